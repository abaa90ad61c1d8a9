"""The organisation's reference file, read and checked before anything is applied.

``telegestion init REFERENCE.toml`` (decision 0600) installs a real
organisation: its identity (SIRET, FINESS), its antennas and the
arrondissements they cover, its funders with their teletransmission identity,
its service codes and a first administrator. ``parse`` collects *every* error
(key path, and line when TOML itself fails) in French, so that the person
who prepares the file fixes it in one pass; nothing is written while one
remains. ``apply`` is idempotent: the same file twice changes nothing, a
changed file updates what changed (audited).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.funders import FunderIdentityError, clean_identity
from ledger.models import Antenna, Funder, FunderKind, Setting
from ledger.service import audit

#: Who the audit journal names for what ``init`` writes.
ACTOR = "system:init"

#: Keys of the ``settings`` table that hold the organisation's identity.
ORGANISATION_KEYS = ("nom", "siret", "finess", "adresse")
#: Prefix of the ``settings`` keys that hold the service codes' labels.
SERVICE_PREFIX = "prestation."

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,15}$")
_FUNDER_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
_SERVICE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")
#: A Paris arrondissement or any French postcode (communes covered outside Paris).
_POSTCODE = re.compile(r"^(0[1-9]|[1-8][0-9]|9[0-8]|2A|2B)[0-9]{3}$")
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")

_TOP_KEYS = {"organisation", "antennes", "financeurs", "prestations", "administrateur"}
_ORG_KEYS = {"nom", "siret", "finess", "adresse"}
_ANTENNA_KEYS = {"code", "nom", "adresse", "arrondissements"}
_FUNDER_KEYS = {
    "code",
    "nom",
    "type",
    "identifiant_plateforme",
    "departement",
    "type_aide",
    "codes_prestation",
}
_ADMIN_KEYS = {"identifiant", "nom"}


class ReferenceError(Exception):
    """The file is refused; ``errors`` lists every reason (French), in file order."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def luhn_ok(digits: str) -> bool:
    """The Luhn key (ISO/IEC 7812) that SIREN, SIRET and FINESS numbers carry."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


#: La Poste's establishments share one SIREN whose SIRETs follow another rule (INSEE):
#: the sum of the fourteen digits is a multiple of 5.
_LA_POSTE_SIREN = "356000000"


def siret_problem(value: str) -> str | None:
    """Why a SIRET is refused, or None."""
    if not re.fullmatch(r"[0-9]{14}", value):
        return "un SIRET a 14 chiffres, sans espace"
    if value.startswith(_LA_POSTE_SIREN) and value != _LA_POSTE_SIREN + "00000":
        if sum(int(c) for c in value) % 5 == 0:
            return None
        return "clé de contrôle du SIRET fausse (règle de La Poste)"
    if not luhn_ok(value[:9]):
        return "clé de contrôle du SIREN (9 premiers chiffres) fausse"
    if not luhn_ok(value):
        return "clé de contrôle du SIRET fausse (une faute de frappe ?)"
    return None


def finess_problem(value: str) -> str | None:
    """Why a FINESS number is refused, or None.

    Nine characters: the Département (two digits, 2A or 2B), six digits, then
    a Luhn key over the first eight. For Corsica (2A, 2B) we found no
    published rule for the key over a letter, so only the format is checked
    there: refusing a true number would block an install.
    """
    if not re.fullmatch(r"(0[1-9]|[1-8][0-9]|9[0-8]|2A|2B)[0-9]{7}", value):
        return "un numéro FINESS a 9 caractères : le Département (01 à 98, 2A, 2B) puis 7 chiffres"
    if value[:2] in ("2A", "2B"):
        return None
    if not luhn_ok(value):
        return "clé de contrôle du numéro FINESS fausse (une faute de frappe ?)"
    return None


@dataclass(frozen=True)
class AntennaRef:
    code: str
    name: str
    address: str
    areas: tuple[str, ...]


@dataclass(frozen=True)
class FunderRef:
    code: str
    name: str
    kind: FunderKind
    identity: dict[str, Any]


@dataclass(frozen=True)
class Reference:
    organisation: dict[str, str]
    antennas: tuple[AntennaRef, ...]
    funders: tuple[FunderRef, ...]
    services: dict[str, str]
    admin_login: str
    admin_name: str


@dataclass
class _Checker:
    errors: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        self.errors.append(f"{where} : {reason}")

    def unknown_keys(self, where: str, table: dict[str, Any], known: set[str]) -> None:
        for key in table:
            if key not in known:
                self.add(
                    f"{where}.{key}" if where else key,
                    f"clé inconnue (attendu : {', '.join(sorted(known))})",
                )

    def text(
        self, where: str, table: dict[str, Any], key: str, *, required: bool = True, limit: int
    ) -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.add(f"{where}.{key}", "obligatoire")
            return ""
        if not isinstance(value, str):
            self.add(f"{where}.{key}", "du texte entre guillemets est attendu")
            return ""
        value = value.strip()
        if required and not value:
            self.add(f"{where}.{key}", "ne doit pas être vide")
        if len(value) > limit:
            self.add(f"{where}.{key}", f"{limit} caractères au plus")
        return value

    def table(self, where: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.add(where, "une table est attendue ([...])")
        return {}

    def tables(self, where: str, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        self.add(where, "une liste de tables est attendue ([[...]])")
        return []


def read(path: Path) -> Reference:
    """Read and check a reference file; raise ``ReferenceError`` with every error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReferenceError([f"{path} : illisible ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReferenceError([f"{path} : le fichier doit être encodé en UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib stops at the first syntax error; its message carries line and column.
        raise ReferenceError([f"{path} : syntaxe TOML invalide ({exc})"]) from None
    return parse(data)


def parse(data: dict[str, Any]) -> Reference:
    """Check the decoded file; raise ``ReferenceError`` listing every problem."""
    check = _Checker()
    check.unknown_keys("", data, _TOP_KEYS)

    org = check.table("organisation", data.get("organisation"))
    check.unknown_keys("organisation", org, _ORG_KEYS)
    organisation = {
        "nom": check.text("organisation", org, "nom", limit=120),
        "siret": check.text("organisation", org, "siret", limit=14).replace(" ", ""),
        "finess": check.text("organisation", org, "finess", limit=9).upper(),
        "adresse": check.text("organisation", org, "adresse", required=False, limit=250),
    }
    if organisation["siret"] and (problem := siret_problem(organisation["siret"])):
        check.add("organisation.siret", f"{organisation['siret']!r} refusé : {problem}")
    if organisation["finess"] and (problem := finess_problem(organisation["finess"])):
        check.add("organisation.finess", f"{organisation['finess']!r} refusé : {problem}")

    antennas: list[AntennaRef] = []
    seen_areas: dict[str, str] = {}
    raw_antennas = check.tables("antennes", data.get("antennes", []))
    if not raw_antennas and "antennes" not in data:
        check.add("antennes", "au moins une antenne ([[antennes]]) est obligatoire")
    for index, item in enumerate(raw_antennas, start=1):
        where = f"antennes[{index}]"
        check.unknown_keys(where, item, _ANTENNA_KEYS)
        code = check.text(where, item, "code", limit=16)
        if code and not _CODE.match(code):
            check.add(f"{where}.code", f"{code!r} : majuscules, chiffres, - et _")
        if code and any(a.code == code for a in antennas):
            check.add(f"{where}.code", f"l'antenne {code} est déjà décrite plus haut")
        name = check.text(where, item, "nom", limit=120)
        address = check.text(where, item, "adresse", required=False, limit=250)
        areas_raw = item.get("arrondissements")
        areas: list[str] = []
        if not isinstance(areas_raw, list) or not areas_raw:
            check.add(
                f"{where}.arrondissements",
                'une liste de codes postaux est attendue, par exemple ["75011", "75012"]',
            )
        else:
            for area in areas_raw:
                if not isinstance(area, str) or not _POSTCODE.match(area):
                    check.add(f"{where}.arrondissements", f"{area!r} n'est pas un code postal")
                    continue
                if area in seen_areas and seen_areas[area] != code:
                    check.add(
                        f"{where}.arrondissements",
                        f"{area} est déjà couvert par l'antenne {seen_areas[area]}",
                    )
                seen_areas[area] = code
                areas.append(area)
        if len(",".join(areas)) > 250:
            check.add(f"{where}.arrondissements", "250 caractères au plus en tout")
        antennas.append(AntennaRef(code, name, address, tuple(areas)))

    services_raw = check.table("prestations", data.get("prestations", {}))
    services: dict[str, str] = {}
    for code, label in services_raw.items():
        if not _SERVICE_CODE.match(code):
            check.add(f"prestations.{code}", "code de prestation : lettres, chiffres, . _ -")
        if not isinstance(label, str) or not label.strip():
            check.add(f"prestations.{code}", "un libellé (texte) est attendu")
            continue
        services[code] = label.strip()

    funders: list[FunderRef] = []
    kinds = ", ".join(k.value for k in FunderKind)
    for index, item in enumerate(check.tables("financeurs", data.get("financeurs", [])), start=1):
        where = f"financeurs[{index}]"
        check.unknown_keys(where, item, _FUNDER_KEYS)
        code = check.text(where, item, "code", limit=20)
        if code and not _FUNDER_CODE.match(code):
            check.add(f"{where}.code", f"{code!r} : majuscules, chiffres, - et _")
        if code and any(f.code == code for f in funders):
            check.add(f"{where}.code", f"le financeur {code} est déjà décrit plus haut")
        name = check.text(where, item, "nom", limit=120)
        kind_text = check.text(where, item, "type", limit=20)
        try:
            kind = FunderKind(kind_text)
        except ValueError:
            if kind_text:
                check.add(f"{where}.type", f"{kind_text!r} inconnu (attendu : {kinds})")
            kind = FunderKind.PRIVATE
        codes = item.get("codes_prestation", {})
        if not isinstance(codes, dict) or not all(isinstance(v, str) for v in codes.values()):
            check.add(f"{where}.codes_prestation", 'une table { "CODE" = "CODE_LOCAL" } attendue')
            codes = {}
        for ours in codes:
            if services and ours not in services:
                check.add(
                    f"{where}.codes_prestation.{ours}",
                    "prestation absente de la table [prestations]",
                )
        try:
            identity = clean_identity(
                kind,
                platform_id=check.text(
                    where, item, "identifiant_plateforme", required=False, limit=60
                ),
                departement_code=check.text(where, item, "departement", required=False, limit=3),
                aid_type=check.text(where, item, "type_aide", required=False, limit=10),
                service_codes=codes,
            )
        except FunderIdentityError as refused:
            check.add(where, str(refused))
            identity = {}
        funders.append(FunderRef(code, name, kind, identity))

    admin = check.table("administrateur", data.get("administrateur"))
    check.unknown_keys("administrateur", admin, _ADMIN_KEYS)
    login = check.text("administrateur", admin, "identifiant", limit=80)
    if login and not _LOGIN.match(login):
        check.add("administrateur.identifiant", f"{login!r} : minuscules, chiffres, . _ -")
    admin_name = check.text("administrateur", admin, "nom", limit=120)

    if check.errors:
        raise ReferenceError(check.errors)
    return Reference(organisation, tuple(antennas), tuple(funders), services, login, admin_name)


@dataclass
class Applied:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _set(session: Session, key: str, value: str, applied: Applied) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, enabled=True))
        audit(session, ACTOR, "setting.created", "setting", key, after=value)
        applied.created.append(f"paramètre {key}")
    elif row.value != value:
        audit(session, ACTOR, "setting.changed", "setting", key, before=row.value, after=value)
        row.value = value
        applied.updated.append(f"paramètre {key}")


def apply(session: Session, ref: Reference) -> Applied:
    """Write what differs from the database; the caller commits (or rolls back)."""
    applied = Applied()
    for key in ORGANISATION_KEYS:
        _set(session, f"organisation.{key}", ref.organisation[key], applied)
    for code, label in ref.services.items():
        _set(session, SERVICE_PREFIX + code, label, applied)

    for antenna in ref.antennas:
        row = session.scalars(select(Antenna).where(Antenna.code == antenna.code)).first()
        values = {
            "name": antenna.name,
            "address": antenna.address,
            "areas": ",".join(antenna.areas),
        }
        if row is None:
            session.add(Antenna(code=antenna.code, **values))
            session.flush()
            audit(session, ACTOR, "antenna.created", "antenna", antenna.code, after=values)
            applied.created.append(f"antenne {antenna.code}")
            continue
        before = {name: getattr(row, name) for name in values}
        if before != values:
            for name, value in values.items():
                setattr(row, name, value)
            audit(session, ACTOR, "antenna.changed", "antenna", antenna.code, before=before,
                  after=values)  # fmt: skip
            applied.updated.append(f"antenne {antenna.code}")

    for funder in ref.funders:
        funder_row = session.scalars(select(Funder).where(Funder.code == funder.code)).first()
        values = {"name": funder.name, "kind": funder.kind, **funder.identity}
        if funder_row is None:
            session.add(Funder(code=funder.code, **values))
            session.flush()
            audit(session, ACTOR, "funder.created", "funder", funder.code,
                  after={**values, "kind": funder.kind.value})  # fmt: skip
            applied.created.append(f"financeur {funder.code}")
            continue
        before = {name: getattr(funder_row, name) for name in values}
        before["service_codes"] = dict(before.get("service_codes") or {})
        if before != values:
            for name, value in values.items():
                setattr(funder_row, name, value)
            audit(
                session,
                ACTOR,
                "funder.changed",
                "funder",
                funder.code,
                before={**before, "kind": str(before["kind"])},
                after={**values, "kind": funder.kind.value},
            )
            applied.updated.append(f"financeur {funder.code}")
    session.flush()
    return applied
