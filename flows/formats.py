"""The flat files exchanged with the planning software: one ``FileFormat`` each.

The specification here is the single source: parsing, writing and the pages
in ``docs/flows/`` (``python -m flows.docs``) all come from it.

Common rules (all files):

- separator ``;``, no quoting: a value never holds ``;``, CR or LF (on output
  they are replaced by a space);
- on output, a free-text value (kind ``text``) starting with ``=``, ``+``, ``-``
  or ``@`` gets a leading apostrophe, so that a spreadsheet opening the file
  shows it as text instead of running it as a formula;
- first line: the header, exactly the field names below, in that order;
- output: UTF-8 without BOM, CRLF line ends, a final CRLF;
- input: UTF-8 (a BOM is skipped) or Windows-1252/Latin-1, line by line;
  CRLF or LF; surrounding spaces of a value are ignored;
- dates ``AAAA-MM-JJ`` (input also accepts ``JJ/MM/AAAA``); date-times are
  Europe/Paris local time: output ``AAAA-MM-JJTHH:MM:SS+01:00`` (ISO 8601
  with the offset, unambiguous on the night of the October change), input
  ``AAAA-MM-JJ HH:MM`` (or ``JJ/MM/AAAA HH:MM``, or ISO 8601 with an offset).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.models import AbsenceKind, Civility
from ledger.motives import Motive
from ledger.phones import normalise
from ledger.spreadsheet import safe_cell
from ledger.timeutil import paris_to_utc, to_paris

SEPARATOR = ";"
EOL = b"\r\n"
ENCODING = "utf-8"
#: A longer input line is rejected without being read into memory.
MAX_LINE_BYTES = 64 * 1024


class FieldError(ValueError):
    """A value that does not fit its field; the message is French and shown in reject files."""


@dataclass(frozen=True)
class Field:
    name: str
    #: text, code, date, datetime, int, decimal, civility, phone, enum
    kind: str
    length: int
    required: bool
    description: str
    #: Allowed values of an ``enum`` field, or the (min, max) of an ``int``.
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None

    @property
    def format_doc(self) -> str:
        return {
            "text": "texte libre",
            "code": "lettres, chiffres, `-`, `_`, `.`",
            "date": "`AAAA-MM-JJ` (entrée : aussi `JJ/MM/AAAA`)",
            "datetime": "`AAAA-MM-JJTHH:MM:SS+HH:MM` heure de Paris (entrée : `AAAA-MM-JJ HH:MM`)",
            "minute": "`AAAA-MM-JJTHH:MM+HH:MM` heure de Paris, secondes retirées",
            "int": "entier" + (f" de {self.bounds[0]} à {self.bounds[1]}" if self.bounds else ""),
            "decimal": "nombre décimal, `.` ou `,`",
            "civility": "`M` ou `MME` (entrée : aussi `Mr`, `Monsieur`, `Mme`, `Madame`)",
            "phone": "numéro français sous toute forme courante (`01 45 67 89 01`, `+33 1…`)",
            "enum": " | ".join(f"`{c}`" for c in self.choices),
        }[self.kind]


@dataclass(frozen=True)
class FileFormat:
    key: str
    title: str
    direction: str  # "in" | "out"
    #: File name pattern with its date part, e.g. "intervenants_AAAAMMJJ.csv".
    name_doc: str
    name_re: re.Pattern[str]
    frequency: str
    description: str
    fields: tuple[Field, ...]
    #: How many trailing (optional) fields a file may leave out entirely, header
    #: included: columns added later, so that older files still load.
    optional_tail: int = 0

    @property
    def accepted_names(self) -> tuple[tuple[str, ...], ...]:
        """Every header a file may have: all fields, or without the optional tail."""
        names = self.names
        return tuple(names[: len(names) - cut] for cut in range(self.optional_tail + 1))

    @property
    def header(self) -> str:
        return SEPARATOR.join(f.name for f in self.fields)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


MOTIVES = tuple(m.value for m in Motive)
_CODE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_INT = re.compile(r"-?\d+")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATE_FR = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_DT = re.compile(r"^(.+?)[ T](\d{2}):(\d{2})(?::(\d{2}))?([+-]\d{2}:\d{2}|Z)?$")
_CIVILITIES = {
    "M": Civility.MR,
    "MR": Civility.MR,
    "M.": Civility.MR,
    "MONSIEUR": Civility.MR,
    "MME": Civility.MRS,
    "MADAME": Civility.MRS,
}


def parse_date(text: str) -> date:
    m = _DATE_ISO.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = _DATE_FR.match(text)
        if not m:
            raise FieldError(f"date illisible {text!r} (attendu AAAA-MM-JJ)")
        d, mo, y = (int(g) for g in m.groups())
    try:
        return date(y, mo, d)
    except ValueError:
        raise FieldError(f"date inexistante {text!r}") from None


def parse_datetime(text: str) -> datetime:
    """A Paris wall time (or an ISO 8601 time with offset), returned in UTC."""
    m = _DT.match(text)
    if not m:
        raise FieldError(f"date-heure illisible {text!r} (attendu AAAA-MM-JJ HH:MM)")
    day = parse_date(m.group(1))
    hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise FieldError(f"heure inexistante {text!r}")
    if m.group(5):
        return datetime.fromisoformat(
            f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}{m.group(5)}"
        )
    return paris_to_utc(datetime(day.year, day.month, day.day, hour, minute, second))


def format_date(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def format_datetime(value: datetime | None) -> str:
    return "" if value is None else to_paris(value).isoformat(timespec="seconds")


def format_minute(value: datetime | None) -> str:
    if value is None:
        return ""
    return to_paris(value).replace(second=0, microsecond=0).isoformat(timespec="minutes")


def _convert(field: Field, text: str) -> Any:
    kind = field.kind
    if kind == "text":
        return text
    if kind == "code":
        if not _CODE.match(text):
            raise FieldError(f"caractères non permis dans {text!r}")
        return text
    if kind == "date":
        return parse_date(text)
    if kind == "datetime":
        return parse_datetime(text)
    if kind == "int":
        if not _INT.fullmatch(text):
            raise FieldError(f"entier attendu, lu {text!r}")
        value = int(text)
        if field.bounds and not field.bounds[0] <= value <= field.bounds[1]:
            raise FieldError(f"{value} hors de {field.bounds[0]} à {field.bounds[1]}")
        return value
    if kind == "decimal":
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise FieldError(f"nombre attendu, lu {text!r}") from None
        if not number.is_finite() or number < 0:
            raise FieldError(f"nombre positif attendu, lu {text!r}")
        return number
    if kind == "civility":
        civility = _CIVILITIES.get(text.upper())
        if civility is None:
            raise FieldError(f"civilité inconnue {text!r} (attendu M ou MME)")
        return civility
    if kind == "phone":
        e164 = normalise(text)
        if e164 is None:
            raise FieldError("numéro de téléphone invalide")
        return e164
    if kind == "enum":
        if text not in field.choices:
            raise FieldError(f"valeur inconnue {text!r}")
        return text
    raise AssertionError(kind)


def parse_values(
    fmt: FileFormat, values: list[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Typed values by field name, and the (field, reason) of every bad one."""
    out: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for (name, required, length, convert), raw in zip(_converters(fmt), values, strict=True):
        text = raw.strip()
        if not text:
            if required:
                errors.append((name, "valeur obligatoire manquante"))
            out[name] = None
        elif len(text) > length:
            errors.append((name, f"trop long ({len(text)} caractères, {length} au plus)"))
        elif convert is None:
            out[name] = text
        else:
            try:
                out[name] = convert(text)
            except FieldError as exc:
                errors.append((name, str(exc)))
    return out, errors


_Converters = tuple[tuple[str, bool, int, Any], ...]
#: Each format's (name, required, length, converter or None for text), built once.
_FORMAT_CONVERTERS: dict[int, tuple[FileFormat, _Converters]] = {}


def _converters(fmt: FileFormat) -> _Converters:
    known = _FORMAT_CONVERTERS.get(id(fmt))
    if known is None or known[0] is not fmt:
        known = (fmt, tuple((f.name, f.required, f.length, _converter(f)) for f in fmt.fields))
        _FORMAT_CONVERTERS[id(fmt)] = known
    return known[1]


def _converter(field: Field) -> Any:
    """``_convert`` for one field, or None for text. Values that repeat a lot in
    a file (dates, numbers, civilities, enums) have their parsed values cached;
    a code (mostly unique: identifiers) is checked by its pattern directly."""
    if field.kind == "text":
        return None
    if field.kind in ("date", "decimal", "int", "civility", "enum"):
        return functools.lru_cache(maxsize=4096)(functools.partial(_convert, field))
    if field.kind == "code":
        return _code
    return functools.partial(_convert, field)


def _code(text: str, _match: Any = _CODE.match) -> str:
    """``_convert`` for a code, without the dispatch on the field's kind.

    Most codes are ASCII letters and digits only, which ``_CODE`` accepts:
    two string methods in C tell them a few times faster than the pattern
    (six codes a line); any other text goes to the pattern.
    """
    if text.isascii() and text.isalnum():
        return text
    if _match(text) is None:
        raise FieldError(f"caractères non permis dans {text!r}")
    return text


def clean(value: str) -> str:
    """A text value safe for our separator-only format."""
    return value.replace(SEPARATOR, " ").replace("\r", " ").replace("\n", " ")


def encode_row(values: list[str], fmt: FileFormat | None = None) -> bytes:
    """One output line. Cells that would start a spreadsheet formula are quoted
    (``ledger.spreadsheet.safe_cell``): the free-text fields of ``fmt`` (names,
    addresses, references: they come from the planning file), or every cell of a
    file without a format (reject files, read by people). Structured fields keep
    their documented form: an E.164 number starts with "+" and is no formula."""
    guarded = [True] * len(values) if fmt is None else [f.kind == "text" for f in fmt.fields]
    return (
        SEPARATOR.join(
            clean(str(safe_cell(v)) if guard else v)
            for v, guard in zip(values, guarded, strict=True)
        ).encode(ENCODING)
        + EOL
    )


def _f(name: str, kind: str, length: int, required: bool, description: str, **kw: Any) -> Field:
    return Field(name, kind, length, required, description, **kw)


WORKERS = FileFormat(
    key="intervenants",
    title="Intervenants (entrée, quotidien)",
    direction="in",
    name_doc="intervenants_AAAAMMJJ.csv",
    name_re=re.compile(r"^intervenants_(\d{8})\.csv$"),
    frequency="chaque matin, fichier complet",
    description=(
        "Every worker known to the planning software, one line each. The file is "
        "complete: a worker absent from it is ended (active until the day before "
        "the file's date), never deleted. The antenna must already exist; its "
        "address, when given, updates the antenna's address."
    ),
    fields=(
        _f(
            "id_planning",
            "code",
            40,
            True,
            "identifiant de l'intervenant au logiciel de planification (unique dans le fichier)",
        ),
        _f("civilite", "civility", 8, True, "civilité"),
        _f("nom", "text", 80, True, "nom de famille"),
        _f("prenom", "text", 80, True, "prénom"),
        _f("code_antenne", "code", 16, True, "code de l'antenne de rattachement (doit exister)"),
        _f(
            "adresse_antenne",
            "text",
            250,
            False,
            "adresse de l'antenne (met à jour l'antenne si renseignée)",
        ),
        _f(
            "code_telephone",
            "code",
            8,
            True,
            "code que l'intervenant compose au téléphone, 4 à 8 chiffres, unique",
        ),
        _f(
            "date_debut",
            "date",
            10,
            False,
            "début d'activité (défaut : date du fichier pour un nouvel intervenant)",
        ),
        _f("date_fin", "date", 10, False, "fin d'activité, vide si en poste"),
        _f(
            "langue",
            "enum",
            2,
            False,
            "langue du serveur vocal une fois le code reconnu (défaut : fr) ; colonne "
            "facultative, un fichier peut l'omettre, en-tête compris",
            choices=("fr", "pt", "ar", "es", "en"),
        ),
    ),
    optional_tail=1,
)

BENEFICIARIES = FileFormat(
    key="beneficiaires",
    title="Bénéficiaires (entrée, quotidien)",
    direction="in",
    name_doc="beneficiaires_AAAAMMJJ.csv",
    name_re=re.compile(r"^beneficiaires_(\d{8})\.csv$"),
    frequency="chaque matin, fichier complet",
    description=(
        "Every beneficiary with their care plans in force and up to three phone "
        "numbers. **A beneficiary with several plans at once** (an APA plan with a "
        "pension fund's top-up) has one line per plan, with the same identifier and "
        "the same personal values (a line whose personal values differ from the "
        "beneficiary's first line is rejected); the plans of the file are all the "
        "plans in force: a plan in force that is on none of the beneficiary's lines "
        "is closed the day before the file's date (removed if it had not started). "
        "A plan is recognised by its funder, service and reference; when one plan "
        "of a beneficiary changes any of them, it is the same plan changed. The "
        "file is complete: a beneficiary absent from it is "
        "ended (care ends the day before the file's date), never deleted. History is "
        "kept: a phone number that disappears is closed (active until the day before), "
        "a new one opens on the file's date; a care plan whose funder, service, "
        "reference, hours or end date change is closed the day before and a new plan "
        "opens on the file's date (or on its own later start date). The antenna and "
        "the funder must already exist."
    ),
    fields=(
        _f(
            "id_planning",
            "code",
            40,
            True,
            "identifiant du bénéficiaire au logiciel de planification (unique dans le fichier)",
        ),
        _f("civilite", "civility", 8, True, "civilité"),
        _f("nom", "text", 80, True, "nom de famille"),
        _f("prenom", "text", 80, True, "prénom"),
        _f("adresse", "text", 250, True, "numéro et voie"),
        _f("code_postal", "code", 10, False, "code postal"),
        _f("ville", "text", 80, False, "commune"),
        _f("date_naissance", "date", 10, False, "date de naissance"),
        _f("code_antenne", "code", 16, True, "code de l'antenne (doit exister)"),
        _f("date_debut_prise_en_charge", "date", 10, True, "début de la prise en charge"),
        _f(
            "date_fin_prise_en_charge",
            "date",
            10,
            False,
            "fin de la prise en charge, vide si en cours ; pas avant le début",
        ),
        _f("gir", "int", 1, False, "groupe iso-ressources", bounds=(1, 6)),
        _f("telephone_1", "phone", 20, False, "premier numéro du domicile"),
        _f("telephone_2", "phone", 20, False, "deuxième numéro"),
        _f("telephone_3", "phone", 20, False, "troisième numéro"),
        _f("code_financeur", "code", 20, True, "code du financeur du plan (doit exister)"),
        _f("reference_plan", "text", 60, False, "référence du plan chez le financeur"),
        _f("date_debut_plan", "date", 10, True, "début du plan d'aide"),
        _f(
            "date_fin_plan",
            "date",
            10,
            False,
            "fin du plan d'aide, vide si sans fin ; pas avant le début",
        ),
        _f("heures_max", "decimal", 8, True, "heures maximales par mois (deux décimales au plus)"),
        _f("code_prestation", "code", 20, True, "code de la prestation du plan"),
        _f(
            "sexe",
            "enum",
            1,
            False,
            "F ou M (statistiques de profil) ; colonne facultative : un fichier sans "
            "elle dans l'en-tête est lu comme avant",
            choices=("F", "M"),
        ),
    ),
    optional_tail=1,
)

#: The ``type`` values of the absences file, as the planning software writes them.
ABSENCE_KINDS = {
    "conges": AbsenceKind.HOLIDAY,
    "hospitalisation": AbsenceKind.HOSPITAL,
    "absence_temporaire": AbsenceKind.OTHER_TEMPORARY,
    "demenagement": AbsenceKind.MOVED,
    "etablissement": AbsenceKind.NURSING_HOME,
    "deces": AbsenceKind.DEATH,
}

ABSENCES = FileFormat(
    key="absences",
    title="Absences des bénéficiaires (entrée, quotidien, facultatif)",
    direction="in",
    name_doc="absences_AAAAMMJJ.csv",
    name_re=re.compile(r"^absences_(\d{8})\.csv$"),
    frequency="chaque matin si le logiciel de planification sait l'envoyer, fichier complet",
    description=(
        "The beneficiaries' absences, temporary (holidays, hospital, other) or "
        "definitive (move, entry into a nursing home, death), one line each, matched "
        "by their identifier: a changed line updates the absence. The file is "
        "complete: an absence not ended before the file's date that is no longer in "
        "the file was cancelled and is removed. The beneficiary must already be "
        "known (import the beneficiaries file first). A planned visit on a day of "
        "absence is never late nor missed; a definitive absence raises an alert "
        "until the beneficiary's care ends."
    ),
    fields=(
        _f(
            "id_planning",
            "code",
            40,
            True,
            "identifiant de l'absence au logiciel de planification (unique dans le fichier)",
        ),
        _f("id_beneficiaire", "code", 40, True, "id_planning du bénéficiaire"),
        _f(
            "type",
            "enum",
            20,
            True,
            "nature de l'absence (définitive : demenagement, etablissement, deces)",
            choices=tuple(ABSENCE_KINDS),
        ),
        _f("date_debut", "date", 10, True, "premier jour d'absence"),
        _f(
            "date_fin",
            "date",
            10,
            False,
            "dernier jour d'absence, vide si inconnu ou définitive ; pas avant le début",
        ),
    ),
)

PLANNED = FileFormat(
    key="interventions_prevues",
    title="Interventions prévues (entrée, quotidien, facultatif)",
    direction="in",
    name_doc="interventions_prevues_AAAAMMJJ.csv",
    name_re=re.compile(r"^interventions_prevues_(\d{8})\.csv$"),
    frequency="chaque matin si le logiciel de planification sait l'envoyer",
    description=(
        "The planned visits from the file's date on. A planned visit is matched by "
        "its identifier: a changed line updates it; a planned visit starting on or "
        "after the file's date that is no longer in the file was cancelled and is "
        "removed (planned visits are forecasts, not history). Worker and beneficiary "
        "must already be known (import their files first)."
    ),
    fields=(
        _f(
            "id_planning",
            "code",
            40,
            True,
            "identifiant de l'intervention prévue (unique dans le fichier)",
        ),
        _f("id_intervenant", "code", 40, True, "id_planning de l'intervenant"),
        _f("id_beneficiaire", "code", 40, True, "id_planning du bénéficiaire"),
        _f("debut", "datetime", 25, True, "début prévu, heure de Paris"),
        _f("fin", "datetime", 25, True, "fin prévue, heure de Paris, après le début"),
        _f("code_prestation", "code", 20, False, "code de la prestation"),
    ),
)

TIMESTAMPS = FileFormat(
    key="horodatages",
    title="Horodatages du jour (sortie, quotidien)",
    direction="out",
    name_doc="horodatages_AAAAMMJJ.csv",
    name_re=re.compile(r"^horodatages_(\d{8})\.csv$"),
    frequency=(
        "chaque soir, pour la journée (date de prestation, heure de Paris), avec les "
        "modifications tardives des jours précédents"
    ),
    description=(
        "Every visit of the day, one line each, ordered by visit id: the raw call "
        "times (answer time of the arrival and departure calls, empty when there was "
        "none) and the current start and end, as corrected or entered by hand by "
        "the managers. Deleted visits are listed with the status `deleted` so that "
        "the planning software can remove them.\n\n"
        "After the day's visits (`nature` = `jour`), the file carries the **late "
        "changes**: every visit of an earlier day that got a new version since the "
        "previous file (a correction, a call attached or a departure called after "
        "midnight: `correction`; a visit entered by hand: `saisie`; a deletion: "
        "`suppression`), once each, in its current state, ordered by visit id. "
        "The window starts where the previous successful file's ended, less ten "
        "minutes (so that a change committed while that file was written is not "
        "missed); a change may therefore appear in two consecutive files: apply "
        "each line as the state of the visit `id_visite` at its `version`, and "
        "ignore a version older than the one held. A visit of a closed month never "
        "changes (docs/decisions/0010), so late changes concern open months only."
    ),
    fields=(
        _f("id_visite", "int", 20, True, "identifiant de la visite dans la télégestion"),
        _f("id_intervenant", "code", 40, True, "id_planning de l'intervenant"),
        _f("id_beneficiaire", "code", 40, True, "id_planning du bénéficiaire"),
        _f("code_antenne", "code", 16, True, "antenne"),
        _f("date_prestation", "date", 10, True, "jour de la prestation (Paris)"),
        _f(
            "statut",
            "enum",
            10,
            True,
            "état courant",
            choices=("complete", "incomplete", "manual", "corrected", "deleted"),
        ),
        _f("appel_arrivee", "datetime", 25, False, "heure brute de l'appel d'arrivée"),
        _f("appel_depart", "datetime", 25, False, "heure brute de l'appel de départ"),
        _f("debut", "datetime", 25, False, "début retenu (corrigé ou saisi)"),
        _f("fin", "datetime", 25, False, "fin retenue (corrigée ou saisie)"),
        _f(
            "duree_minutes",
            "int",
            5,
            False,
            "durée retenue en minutes, secondes retirées de début et fin",
        ),
        _f("motif", "enum", 30, False, "motif de la dernière correction", choices=MOTIVES),
        _f("version", "int", 5, True, "version de la visite (1 : telle que dérivée des appels)"),
        _f("code_prestation", "code", 20, False, "code de la prestation"),
        _f(
            "nature",
            "enum",
            12,
            True,
            "jour : visite du jour du fichier ; correction, saisie ou suppression : "
            "modification tardive d'une visite d'un jour précédent",
            choices=("jour", "correction", "saisie", "suppression"),
        ),
    ),
)

SERVICE_DONE = FileFormat(
    key="prestations",
    title="Service fait du mois (sortie, mensuel)",
    direction="out",
    name_doc="prestations_AAAAMM.csv, prestations_AAAAMM_vN.csv",
    name_re=re.compile(r"^prestations_(\d{6})(?:_v(\d+))?\.csv$"),
    frequency=(
        "la nuit qui suit la clôture du mois par un référent central (jamais avant), "
        "et de nouveau après chaque réouverture suivie d'une nouvelle clôture"
    ),
    description=(
        "Produced only from a closed month (see docs/decisions/0010): the figures "
        "are those the referents validated funder by funder. The first close gives "
        "`prestations_AAAAMM.csv`. When a referent reopens the month (with a "
        "motive) and closes it again, the N-th close gives the correction file "
        "`prestations_AAAAMM_vN.csv` (N = 2, 3...): a complete replacement, with "
        "every line of the month as closed the N-th time. The planning software "
        "replaces all the month's lines it holds by those of the file with the "
        "highest N; a visit absent from it (deleted since) is no longer service "
        "done.\n\n"
        "One line per visit of the month (by day of service, Paris) that has both a "
        "start and an end and is not deleted, and per funder share of it, ordered by "
        "visit id: a visit shared between two care plans (the first plan's monthly "
        "maximum reached) has two lines with the same visit id. Start and end are "
        "given to the minute (seconds dropped) and the duration is their difference "
        "in minutes. The funder, plan reference, category and kept minutes are the "
        "ledger's rules of money (ledger.money: the funder's rounding, then the "
        "allocation of decision 0501), the same figures as the pre-billing, the "
        "teletransmission and the signed statements: add up minutes_retenues, not "
        "duree_minutes, to get what is billed. Complementary minutes are the "
        "minutes done beyond the matching planned visit (same worker and "
        "beneficiary, overlapping), 0 when there is no planned visit or the visit "
        "was not longer."
    ),
    fields=(
        _f("id_visite", "int", 20, True, "identifiant de la visite dans la télégestion"),
        _f("id_beneficiaire", "code", 40, True, "id_planning du bénéficiaire"),
        _f("id_intervenant", "code", 40, True, "id_planning de l'intervenant"),
        _f("debut", "minute", 22, True, "début retenu, à la minute"),
        _f("fin", "minute", 22, True, "fin retenue, à la minute"),
        _f("duree_minutes", "int", 5, True, "fin moins début, en minutes"),
        _f("minutes_complementaires", "int", 5, True, "minutes au-delà de l'intervention prévue"),
        _f(
            "motif_correction",
            "enum",
            30,
            False,
            "motif de la dernière correction, vide si aucune",
            choices=MOTIVES,
        ),
        _f(
            "code_prestation",
            "code",
            20,
            False,
            "code de la prestation (de la visite, sinon du plan d'aide retenu)",
        ),
        _f("financeur", "code", 20, False, "code du financeur, vide hors plan d'aide"),
        _f("reference_plan", "code", 40, False, "référence du plan d'aide, vide hors plan"),
        _f(
            "categorie",
            "enum",
            10,
            True,
            "dans_plan, au_dela (maximum du plan atteint) ou hors_plan",
            choices=("dans_plan", "au_dela", "hors_plan"),
        ),
        _f("minutes_retenues", "int", 5, True, "minutes retenues pour ce financeur"),
    ),
)

IN_FORMATS = (WORKERS, BENEFICIARIES, ABSENCES, PLANNED)
OUT_FORMATS = (TIMESTAMPS, SERVICE_DONE)
ALL_FORMATS = IN_FORMATS + OUT_FORMATS


def format_for_name(name: str) -> tuple[FileFormat, date] | None:
    """The input format and the file's date from a file name, or None."""
    for fmt in IN_FORMATS:
        m = fmt.name_re.match(name)
        if m:
            digits = m.group(1)
            try:
                return fmt, date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
            except ValueError:
                return None
    return None


Writer = Callable[[list[str]], None]
