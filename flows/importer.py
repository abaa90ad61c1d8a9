"""Import of the planning software's daily files (formats: ``flows.formats``).

``import_file`` reads a file as a stream (bounded memory, in chunks of
``CHUNK_LINES``), validates every line, applies the valid ones and writes
each invalid one to a reject file with its line number, field and reason.
The whole file is one transaction: a crash halfway applies nothing. Applying
the same file twice changes nothing the second time. Past values are kept:
phone numbers and care plans are closed and reopened by dates, and every
change of an existing row is written to the audit journal with its old value.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from flows import formats
from flows.bulk import WriteBehind, insert_many
from flows.formats import FileFormat
from kernel.transport import safe_name
from ledger.bulk import read_in, row_decoder, row_encoder
from ledger.collector import quiet_collector
from ledger.models import (
    Absence,
    Antenna,
    AuditEntry,
    Beneficiary,
    CarePlan,
    Funder,
    Phone,
    PlannedVisit,
    Worker,
)
from ledger.phones import kind_of
from ledger.service import audit
from ledger.timeutil import as_utc, paris_day_bounds

logger = logging.getLogger(__name__)

ACTOR = "system:flows"
CHUNK_LINES = 2000
#: Refuse to end more than this share of the active people at once (a truncated file).
MAX_END_SHARE = 0.5
MIN_END_GUARD = 20


class FileRefused(Exception):
    """The whole file is refused; nothing was applied. The message is French."""


@dataclass
class Reject:
    line: int
    field: str
    reason: str
    content: str


@dataclass
class ImportReport:
    file_name: str
    kind: str
    file_date: date | None
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ended: int = 0
    removed: int = 0
    rejected: int = 0
    refused: str = ""
    reject_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "lignes": self.lines,
            "creees": self.created,
            "modifiees": self.updated,
            "inchangees": self.unchanged,
            "terminees": self.ended,
            "supprimees": self.removed,
            "rejetees": self.rejected,
        }


# --- reading --------------------------------------------------------------


#: Control characters other than tab (a search, not a loop over every character).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def decode_line(raw: bytes) -> str:
    """UTF-8, else Windows-1252 (Latin-1); control characters are refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise formats.FieldError(
                "encodage illisible (ni UTF-8 ni Latin-1/Windows-1252)"
            ) from None
    if _CONTROL.search(text) is not None:
        raise formats.FieldError("encodage illisible (caractères de contrôle)")
    return text


def read_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, raw bytes without EOL), or None for a line over the size limit."""
    number = 0
    while True:
        raw = handle.readline(formats.MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > formats.MAX_LINE_BYTES and not raw.endswith(b"\n"):
            # Skip the rest of the over-long line without keeping it.
            while True:
                more = handle.readline(formats.MAX_LINE_BYTES)
                if not more or more.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, raw.rstrip(b"\r\n")


class _RejectWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.part")
        self.count = 0
        self.pending: list[Reject] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.partial, "wb")  # noqa: SIM115 (closed in finish/abort)
        self._handle.write(formats.encode_row(["ligne", "champ", "motif", "contenu"]))

    def add(self, reject: Reject) -> None:
        """Keep a reject until ``flush``, which writes the pending ones in line order."""
        self.count += 1
        self.pending.append(reject)

    def flush(self) -> None:
        for reject in sorted(self.pending, key=lambda r: r.line):
            self._handle.write(
                formats.encode_row(
                    [str(reject.line), reject.field, reject.reason, reject.content[:500]]
                )
            )
        self.pending.clear()

    def finish(self) -> Path | None:
        self.flush()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self.count == 0:
            self.partial.unlink(missing_ok=True)
            return None
        self.partial.replace(self.path)
        return self.path

    def abort(self) -> None:
        self._handle.close()
        self.partial.unlink(missing_ok=True)


# --- appliers -------------------------------------------------------------


Row = tuple[int, dict[str, Any], str]  # line number, typed values, raw text


class _Applier:
    fmt: FileFormat

    def __init__(self, session: Session, file_date: date, report: ImportReport, full: bool):
        self.session = session
        self.day = file_date
        self.report = report
        self.full = full
        self.seen: dict[str, int] = {}

    #: Whether several lines may carry the same ``id_planning`` (a beneficiary's plans).
    repeats = False

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        return []

    def apply_chunk(self, rows: list[Row], reject: _RejectWriter) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        return None

    def abandon(self) -> None:
        """The import failed: leave the connection ready for the rollback."""
        return None

    def _audit(self, action: str, object_type: str, object_id: object, **details: Any) -> None:
        """An audit entry by the import, naming the file (last, as it always was)."""
        audit(
            self.session,
            ACTOR,
            action,
            object_type,
            object_id,
            **details,
            file=self.report.file_name,
        )

    def _changed(self, obj: Any, wanted: dict[str, Any]) -> dict[str, list[Any]]:
        changes: dict[str, list[Any]] = {}
        for name, value in wanted.items():
            old = getattr(obj, name)
            if old != value:
                changes[name] = [_jsonable(old), _jsonable(value)]
                setattr(obj, name, value)
        return changes

    def _end_absent(
        self,
        model: type[Worker] | type[Beneficiary],
        column: str,
        what: str,
        action: str,
        object_type: str,
    ) -> None:
        """End (``column`` = the day before the file) whoever is active and not in the file."""
        end = getattr(model, column)
        yesterday = self.day - timedelta(days=1)
        # Streamed (a server-side cursor on PostgreSQL): every active person's row
        # held at once was the import's peak of memory, at its very end.
        rows = self.session.connection().execute(
            select(model.id, model.external_id)
            .where((end.is_(None)) | (end >= self.day))
            .execution_options(yield_per=CHUNK_LINES)
        )
        active = 0
        missing: list[int] = []
        for row_id, ext in rows:
            active += 1
            if ext not in self.seen:
                missing.append(row_id)
        if not missing or not _end_guard(self.report, len(missing), active, what):
            return
        for start in range(0, len(missing), CHUNK_LINES):
            ids = missing[start : start + CHUNK_LINES]
            found: list[Any] = list(self.session.scalars(select(model).where(model.id.in_(ids))))
            for obj in found:
                old = getattr(obj, column)
                self._audit(
                    action,
                    object_type,
                    obj.id,
                    antenna_id=obj.antenna_id,
                    changes={column: [_jsonable(old), yesterday.isoformat()]},
                )
                setattr(obj, column, yesterday)
                self.report.ended += 1
            self.session.flush()
            self.session.expunge_all()


def _table(model: type[Any]) -> Table:
    """The Core table of a model: a plain executemany, without the ORM's bulk path."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "value"):
        return value.value
    return value


def _end_guard(report: ImportReport, to_end: int, active: int, what: str) -> bool:
    limit = max(MIN_END_GUARD, int(active * MAX_END_SHARE))
    if to_end > limit:
        report.notes.append(
            f"{to_end} {what} absents du fichier sur {active} : fichier incomplet ? "
            "Aucun n'a été terminé."
        )
        return False
    return True


class _Workers(_Applier):
    fmt = formats.WORKERS

    def __init__(self, session: Session, file_date: date, report: ImportReport, full: bool):
        super().__init__(session, file_date, report, full)
        self.antennas = {a.code: a.id for a in session.scalars(select(Antenna))}
        self.code_owner: dict[str, str] = dict(
            session.execute(select(Worker.phone_code, Worker.external_id)).all()
        )
        self.antenna_addresses: set[str] = set()

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        errors = []
        code = values.get("code_telephone")
        if code is not None and not (code.isdigit() and 4 <= len(code) <= 8):
            errors.append(("code_telephone", "4 à 8 chiffres attendus"))
        if values.get("code_antenne") is not None and values["code_antenne"] not in self.antennas:
            errors.append(("code_antenne", f"antenne inconnue {values['code_antenne']!r}"))
        start, end = values.get("date_debut"), values.get("date_fin")
        if start and end and end < start:
            errors.append(("date_fin", "fin avant le début"))
        return errors

    def apply_chunk(self, rows: list[Row], reject: _RejectWriter) -> None:
        ids = [values["id_planning"] for _, values, _ in rows]
        existing = {
            w.external_id: w
            for w in self.session.scalars(select(Worker).where(Worker.external_id.in_(ids)))
        }
        for line, values, raw in rows:
            ext = values["id_planning"]
            code = values["code_telephone"]
            owner = self.code_owner.get(code)
            if owner is not None and owner != ext:
                reject.add(
                    Reject(line, "code_telephone", "code déjà attribué à un autre intervenant", raw)
                )
                continue
            address = values["adresse_antenne"]
            if address and values["code_antenne"] not in self.antenna_addresses:
                self.antenna_addresses.add(values["code_antenne"])
                antenna = self.session.get(Antenna, self.antennas[values["code_antenne"]])
                assert antenna is not None
                changes = self._changed(antenna, {"address": address})
                if changes:
                    self._audit(
                        "flows.antenna_updated",
                        "antenna",
                        antenna.id,
                        antenna_id=antenna.id,
                        changes=changes,
                    )
            wanted: dict[str, Any] = {
                "civility": values["civilite"],
                "last_name": values["nom"],
                "first_name": values["prenom"],
                "antenna_id": self.antennas[values["code_antenne"]],
                "phone_code": code,
                "active_until": values["date_fin"],
            }
            if values.get("langue"):
                wanted["language"] = values["langue"]
            worker = existing.get(ext)
            if worker is None:
                worker = Worker(
                    external_id=ext, active_from=values["date_debut"] or self.day, **wanted
                )
                self.session.add(worker)
                self.report.created += 1
            else:
                if values["date_debut"]:
                    wanted["active_from"] = values["date_debut"]
                old_code = worker.phone_code
                changes = self._changed(worker, wanted)
                if changes:
                    self.report.updated += 1
                    if "phone_code" in changes:
                        self.code_owner.pop(old_code, None)
                        # Free the old code in the database before another row takes it.
                        self.session.flush()
                    self._audit(
                        "flows.worker_updated",
                        "worker",
                        worker.id,
                        antenna_id=worker.antenna_id,
                        changes=changes,
                    )
                else:
                    self.report.unchanged += 1
            self.code_owner[code] = ext
        self.session.flush()

    def finish(self) -> None:
        if self.full:
            self._end_absent(Worker, "active_until", "intervenants", "flows.worker_ended", "worker")


#: The fields of a beneficiaries line that describe one plan (the others, the person).
PLAN_FIELDS = frozenset(
    {
        "code_financeur",
        "reference_plan",
        "date_debut_plan",
        "date_fin_plan",
        "heures_max",
        "code_prestation",
    }
)


#: The other fields, in file order: the person, the same on each of its lines.
_PERSON_FIELDS = tuple(f.name for f in formats.BENEFICIARIES.fields if f.name not in PLAN_FIELDS)
_PHONE_FIELDS = ("telephone_1", "telephone_2", "telephone_3")
_person_values = itemgetter(*_PERSON_FIELDS)


@functools.lru_cache(maxsize=4096)
def _bad_hours(hours: Decimal) -> bool:
    """Whether a plan's hours do not fit its column (hours repeat: cached)."""
    return hours >= Decimal(100000) or hours != round(hours, 2)


class _Plan(NamedTuple):
    """A plan's values: a line's, or a stored plan's (``_settle``). A named tuple,
    not a frozen dataclass: one is built per line, and a dataclass's frozen
    ``__init__`` costs several times a tuple's."""

    funder_id: int
    service_code: str
    reference: str
    max_hours: float
    starts_on: date
    ends_on: date | None

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.funder_id, self.service_code, self.reference)

    def columns(self) -> dict[str, Any]:
        return {
            "funder_id": self.funder_id,
            "service_code": self.service_code,
            "reference": self.reference,
            "max_hours": self.max_hours,
            "ends_on": self.ends_on,
        }


class _Beneficiaries(_Applier):
    """Beneficiaries, their phones, and their plans: one line per plan in force.

    The person and the phones are applied from a beneficiary's first line, chunk
    by chunk. A beneficiary's lines need not follow each other, so plans are
    reconciled with the ledger's once the whole file is read, except where the
    outcome is already known with the chunk, which keeps memory from growing
    with the plans of every beneficiary:

    * a beneficiary this file creates has no stored plans: its lines' plans are
      inserted with their chunk (what ``_reconcile`` would do at the end);
    * a known beneficiary whose lines so far carry exactly its stored plans in
      force (``_unchanged_plans``) is settled: nothing is kept for it. Should a
      later line add a plan, its earlier lines' plans are rebuilt from the
      stored ones (``_reopen``: they compare equal for ``_reconcile``);
    * the others are kept (``_pending``) and reconciled at the end.
    """

    fmt = formats.BENEFICIARIES
    repeats = True

    def __init__(self, session: Session, file_date: date, report: ImportReport, full: bool):
        super().__init__(session, file_date, report, full)
        self.antennas = {a.code: a.id for a in session.scalars(select(Antenna))}
        self.funders = {f.code: f.id for f in session.scalars(select(Funder))}
        #: Hash of the personal values of each beneficiary's first line.
        self._person: dict[str, int] = {}
        self._plan_seen: set[int] = set()
        #: Known beneficiary id -> (antenna id, the plans of its lines): those whose
        #: plans ``_reconcile`` may change, reconciled in ``finish``.
        self._pending: dict[int, tuple[int, list[_Plan]]] = {}
        self._applied: dict[str, int] = {}
        self._changed_ids: set[int] = set()
        #: Ids above this one are beneficiaries created by this file (ids only grow,
        #: and an import never deletes a beneficiary).
        self._last_known_id: int = session.scalar(select(func.max(Beneficiary.id))) or 0
        dialect = session.get_bind().dialect
        self._decode_plan = row_decoder(_table(CarePlan), _PLAN_READ, dialect)
        self._encode_person = row_encoder(_table(Beneficiary), list(_PERSON_COLUMNS), dialect)
        self._encode_person_no_sex = row_encoder(
            _table(Beneficiary), list(_PERSON_COLUMNS[:-1]), dialect
        )
        #: New people, phones and plans, written while the next chunk is parsed.
        self._behind = WriteBehind(session.connection())

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        errors = self._check_repeat(values)
        if values.get("code_antenne") is not None and values["code_antenne"] not in self.antennas:
            errors.append(("code_antenne", f"antenne inconnue {values['code_antenne']!r}"))
        if (
            values.get("code_financeur") is not None
            and values["code_financeur"] not in self.funders
        ):
            errors.append(("code_financeur", f"financeur inconnu {values['code_financeur']!r}"))
        for start, end in (
            ("date_debut_prise_en_charge", "date_fin_prise_en_charge"),
            ("date_debut_plan", "date_fin_plan"),
        ):
            if values.get(start) and values.get(end) and values[end] < values[start]:
                errors.append((end, "fin avant le début"))
        hours = values.get("heures_max")
        if hours is not None and _bad_hours(hours):
            errors.append(("heures_max", "au plus 99999,99 avec deux décimales"))
        present = [p for p in map(values.get, _PHONE_FIELDS) if p]
        if len(present) > 1 and len(set(present)) != len(present):
            errors.append(("telephone_2", "numéro en double sur la ligne"))
        return errors

    def _check_repeat(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        ext = values["id_planning"]
        # The typed values (each field has one type: equal values, equal text);
        # a line that reaches the checks has every field, empty ones as None.
        person = hash(_person_values(values))
        plan = hash(
            (ext, values["code_financeur"], values["code_prestation"])
            + (values["reference_plan"] or "",)
        )
        first = self._person.setdefault(ext, person)
        if first != person:
            return [
                (
                    "id_planning",
                    "les lignes d'un même bénéficiaire doivent porter les mêmes informations "
                    f"personnelles que sa première ligne (ligne {self.seen[ext]})",
                )
            ]
        if plan in self._plan_seen:
            return [
                (
                    "code_financeur",
                    "plan en double pour ce bénéficiaire (même financeur, prestation et référence)",
                )
            ]
        self._plan_seen.add(plan)
        return []

    def apply_chunk(self, rows: list[Row], reject: _RejectWriter) -> None:
        self._behind.wait()
        wanted_plans: dict[str, list[_Plan]] = {}
        firsts: list[Row] = []
        for row in rows:
            values = row[1]
            ext = values["id_planning"]
            if ext not in self._applied and ext not in wanted_plans:
                firsts.append(row)
            wanted_plans.setdefault(ext, []).append(
                _Plan(
                    self.funders[values["code_financeur"]],
                    values["code_prestation"],
                    values["reference_plan"] or "",
                    float(values["heures_max"]),
                    values["date_debut_plan"],
                    values["date_fin_plan"],
                )
            )
        antennas = self._apply_people(firsts)
        new_plans: list[dict[str, Any]] = []
        touched: list[int] = []
        reopened: list[int] = []
        for ext, plans in wanted_plans.items():
            ben_id = self._applied[ext]
            if ben_id > self._last_known_id:
                new_plans.extend(
                    {"beneficiary_id": ben_id, "starts_on": plan.starts_on, **plan.columns()}
                    for plan in plans
                )
                continue
            touched.append(ben_id)
            pending = self._pending.get(ben_id)
            if pending is None and ben_id not in antennas:
                # Settled in an earlier chunk: its earlier plans come back from the ledger.
                reopened.append(ben_id)
                pending = self._pending[ben_id] = (-1, [])
            elif pending is None:
                pending = self._pending[ben_id] = (antennas[ben_id], [])
            pending[1].extend(plans)
        self._behind.insert(_table(CarePlan), new_plans)
        if touched:
            self._settle(touched, reopened)
        self.session.flush()
        self._behind.send()

    def abandon(self) -> None:
        self._behind.abandon()

    def _settle(self, ben_ids: list[int], reopened: list[int]) -> None:
        """Settle the chunk's known beneficiaries whose plans would not change, and
        rebuild the lines' plans of those settled earlier that the chunk reopened."""
        # A beneficiary's plans in the order reconciliation reads them: start, id.
        rows = sorted(
            map(
                self._decode_plan,
                read_in(
                    self.session.connection(),
                    _table(CarePlan),
                    _PLAN_READ,
                    "beneficiary_id",
                    ben_ids,
                ),
            ),
            key=itemgetter(6, 0),
        )
        stored: dict[int, list[_Plan]] = {}
        for row in rows:
            stored.setdefault(row[1], []).append(_Plan(*row[2:]))
        if reopened:
            antennas = dict(
                self.session.connection()
                .execute(
                    select(Beneficiary.id, Beneficiary.antenna_id).where(
                        Beneficiary.id.in_(reopened)
                    )
                )
                .all()
            )
            for ben_id in reopened:
                self._count(ben_id, -1)
                self._pending[ben_id] = (
                    antennas[ben_id],
                    self._in_force(stored[ben_id]) + self._pending[ben_id][1],
                )
        for ben_id in ben_ids:
            plans = stored.get(ben_id)
            if plans and self._unchanged_plans(self._pending[ben_id][1], plans):
                del self._pending[ben_id]
                self._count(ben_id, 1)

    def _count(self, ben_id: int, step: int) -> None:
        """Count a known beneficiary as updated or unchanged (``step`` -1 takes it back)."""
        if ben_id in self._changed_ids:
            self.report.updated += step
        else:
            self.report.unchanged += step

    def _in_force(self, plans: list[_Plan]) -> list[_Plan]:
        """The lines' plans of a settled beneficiary, rebuilt as its stored plans in
        force: equal to them but for a start that may have been earlier, which
        ``_reconcile`` does not tell apart from the stored one when it settles."""
        return [p for p in plans if p.ends_on is None or p.ends_on >= self.day]

    def _apply_people(self, rows: list[Row]) -> dict[int, int]:
        """Create or update the chunk's people and phones; the known ones' antennas by id.

        The stored values are read as plain rows (one query) and compared with
        the line's; only a person that changed is loaded as an ORM object and
        updated with its audit entry, and the new ones are inserted in one
        executemany, in file order.
        """
        session = self.session
        connection = session.connection()
        table = _table(Beneficiary)
        ids = [values["id_planning"] for _, values, _ in rows]
        # As stored (id, external id, then the person's columns), compared with the
        # line's values encoded as they would be stored.
        stored = {
            row[1]: row for row in read_in(connection, table, _PERSON_READ, "external_id", ids)
        }
        wanted_by_row = [self._wanted_person(values) for _, values, _ in rows]
        differs = [
            values["id_planning"]
            for (_, values, _), wanted in zip(rows, wanted_by_row, strict=True)
            if (row := stored.get(values["id_planning"])) is not None
            and not self._same_person(row, wanted)
        ]
        loaded = {
            b.external_id: b
            for b in (
                session.scalars(select(Beneficiary).where(Beneficiary.external_id.in_(differs)))
                if differs
                else ()
            )
        }
        new_rows: list[dict[str, Any]] = []
        by_row: list[tuple[_Person, dict[str, Any]]] = []
        for (_line, values, _raw), wanted in zip(rows, wanted_by_row, strict=True):
            ext = values["id_planning"]
            row = stored.get(ext)
            if row is None:
                new_rows.append({"external_id": ext, "sex": None, **wanted})
                self.report.created += 1
                continue
            by_row.append(
                (_Person(row[0], ext, wanted["antenna_id"], wanted["care_start"]), values)
            )
            ben = loaded.get(ext)
            if ben is None:
                continue
            changes = self._changed(ben, wanted)
            self._audit(
                "flows.beneficiary_updated",
                "beneficiary",
                ben.id,
                antenna_id=ben.antenna_id,
                changes=changes,
            )
            values["_changed"] = True
        session.flush()
        # New beneficiaries have no numbers or plans yet: look up the known ones only.
        ben_ids = [person.id for person, _ in by_row]
        new_ids: dict[str, int] = {}
        if new_rows:
            new_ids = self._behind.insert_new(table, new_rows, "external_id")
        self._inserts: dict[type[Phone] | type[CarePlan], list[dict[str, Any]]] = {
            Phone: [],
            CarePlan: [],
        }
        self._closed_phones: list[int] = []
        people: list[tuple[_Person, dict[str, Any], bool]] = []
        antennas: dict[int, int] = {}
        known = iter(by_row)
        for (_line, values, _raw), wanted in zip(rows, wanted_by_row, strict=True):
            ext = values["id_planning"]
            if ext in new_ids:
                person = _Person(new_ids[ext], ext, wanted["antenna_id"], wanted["care_start"])
                people.append((person, values, True))
            else:
                person, _ = next(known)
                people.append((person, values, False))
                antennas[person.id] = person.antenna_id
            self._applied[ext] = person.id
        phones: dict[int, list[tuple[int, str]]] = {}
        for phone_id, ben_id, e164 in read_in(
            connection,
            _table(Phone),
            ("id", "beneficiary_id", "e164"),
            "beneficiary_id",
            ben_ids,
            active_on=("active_until", self.day),
        ):
            phones.setdefault(ben_id, []).append((phone_id, e164))
        for person, values, is_new in people:
            changed = bool(values.get("_changed"))
            changed |= self._phones(person, values, phones.get(person.id, []), is_new)
            if changed and not is_new:
                self._changed_ids.add(person.id)
        if self._closed_phones:
            session.connection().execute(
                update(Phone)
                .where(Phone.id.in_(self._closed_phones))
                .values(active_until=self.day - timedelta(days=1))
            )
        # Plain inserts, in file order (a phone's id keeps its column order).
        for model, inserted in self._inserts.items():
            self._behind.insert(_table(model), inserted)
        session.flush()
        return antennas

    def _same_person(self, row: tuple[Any, ...], wanted: dict[str, Any]) -> bool:
        """Whether the stored row (``_PERSON_READ``) has the wanted values (``sex``
        only when the line gives one), compared as the database stores them."""
        if len(wanted) == len(_PERSON_COLUMNS):
            return row[2:] == tuple(self._encode_person(wanted))
        return row[2:-1] == tuple(self._encode_person_no_sex(wanted))

    def _wanted_person(self, values: dict[str, Any]) -> dict[str, Any]:
        wanted: dict[str, Any] = {
            "civility": values["civilite"],
            "last_name": values["nom"],
            "first_name": values["prenom"],
            "address": values["adresse"],
            "postcode": values["code_postal"] or "",
            "city": values["ville"] or "",
            "birth_date": values["date_naissance"],
            "gir": values["gir"],
            "antenna_id": self.antennas[values["code_antenne"]],
            "care_start": values["date_debut_prise_en_charge"],
            "care_end": values["date_fin_prise_en_charge"],
        }
        if values.get("sexe"):
            # A file without the column leaves the known value alone.
            wanted["sex"] = values["sexe"]
        return wanted

    def _phones(
        self, ben: _Person, values: dict[str, Any], active: list[tuple[int, str]], is_new: bool
    ) -> bool:
        wanted = [e164 for e164 in map(values.__getitem__, _PHONE_FIELDS) if e164]
        current = {e164 for _, e164 in active}
        changed = False
        yesterday = self.day - timedelta(days=1)
        for phone_id, e164 in active:
            if e164 not in wanted:
                self._closed_phones.append(phone_id)
                changed = True
                self._audit(
                    "flows.phone_closed",
                    "phone",
                    phone_id,
                    antenna_id=ben.antenna_id,
                    beneficiary=ben.external_id,
                    active_until=yesterday.isoformat(),
                )
        # A new beneficiary's numbers are valid from the start of care; a new
        # number of a known beneficiary from the file's date.
        starts = min(self.day, ben.care_start) if is_new else self.day
        for e164 in wanted:
            if e164 in current:
                continue
            self._inserts[Phone].append(
                {
                    "beneficiary_id": ben.id,
                    "e164": e164,
                    "kind": kind_of(e164),
                    "active_from": starts,
                    "active_until": None,
                }
            )
            if not is_new:
                changed = True
                self._audit(
                    "flows.phone_added",
                    "beneficiary",
                    ben.id,
                    antenna_id=ben.antenna_id,
                    active_from=starts.isoformat(),
                )
        return changed

    def _reconcile(self, ben: _Ben, wanted_plans: list[_Plan], plans: list[CarePlan]) -> bool:
        """Make the beneficiary's plans in force those of its lines; True when any changed."""
        in_force = [p for p in plans if p.ends_on is None or p.ends_on >= self.day]
        candidates = in_force or plans[-1:]
        pairs: list[tuple[_Plan, CarePlan]] = []
        new: list[_Plan] = []
        for wanted in wanted_plans:
            match = next(
                (p for p in candidates if (p.funder_id, p.service_code, p.reference) == wanted.key),
                None,
            )
            if match is None:
                new.append(wanted)
            else:
                pairs.append((wanted, match))
                candidates = [p for p in candidates if p is not match]
        if len(new) == 1 and len(candidates) == 1:
            # One plan of the beneficiary changed its funder, service or reference.
            pairs.append((new.pop(), candidates.pop()))
        changed = False
        for wanted, plan in pairs:
            changed |= self._plan(ben, wanted, plan, only=len(plans) == 1)
        for plan in candidates:
            if plan.ends_on is not None and plan.ends_on < self.day:
                continue
            changed = True
            if plan.starts_on >= self.day:
                self._audit_plan(ben, plan, "flows.care_plan_removed", {})
                self.session.delete(plan)
                continue
            old_end = plan.ends_on
            plan.ends_on = self.day - timedelta(days=1)
            self._audit_plan(
                ben,
                plan,
                "flows.care_plan_closed",
                {"ends_on": [_jsonable(old_end), _jsonable(plan.ends_on)]},
            )
        for wanted in new:
            self._inserts[CarePlan].append(
                {"beneficiary_id": ben.id, "starts_on": wanted.starts_on, **wanted.columns()}
            )
            changed |= bool(plans)
        return changed

    def _plan(self, ben: _Ben, plan: _Plan, current: CarePlan, *, only: bool) -> bool:
        wanted = plan.columns()
        file_start = plan.starts_on
        same = all(getattr(current, k) == v for k, v in wanted.items())
        if same and file_start <= current.starts_on:
            if file_start < current.starts_on and only:
                changes = self._changed(current, {"starts_on": file_start})
                self._audit_plan(ben, current, "flows.care_plan_updated", changes)
                return True
            return False
        new_start = max(file_start, self.day)
        if current.starts_on < new_start:
            old_end = current.ends_on
            close = new_start - timedelta(days=1)
            if old_end is None or old_end > close:
                current.ends_on = close
            self._audit_plan(
                ben,
                current,
                "flows.care_plan_closed",
                {"ends_on": [_jsonable(old_end), _jsonable(current.ends_on)]},
            )
            if wanted["ends_on"] is not None and wanted["ends_on"] < new_start:
                # The plan now ends before today: closing the current one is the change.
                current.ends_on = (
                    wanted["ends_on"] if wanted["ends_on"] >= current.starts_on else close
                )
                return True
            self._inserts[CarePlan].append(
                {"beneficiary_id": ben.id, "starts_on": new_start, **wanted}
            )
            return True
        # The current plan has not started yet: it has no past, correct it in place.
        changes = self._changed(current, {**wanted, "starts_on": new_start})
        self._audit_plan(ben, current, "flows.care_plan_updated", changes)
        return True

    def _audit_plan(
        self, ben: _Ben, plan: CarePlan, action: str, changes: dict[str, list[Any]]
    ) -> None:
        self._audit(
            action,
            "care_plan",
            plan.id,
            antenna_id=ben.antenna_id,
            changes=changes,
        )

    def finish(self) -> None:
        self._behind.close()
        # The beneficiaries left pending: their plans in force are not exactly their
        # lines' (``_settle``), so they are loaded and reconciled, in id order.
        ids = sorted(self._pending)
        for start in range(0, len(ids), CHUNK_LINES):
            chunk = ids[start : start + CHUNK_LINES]
            self._inserts = {Phone: [], CarePlan: []}
            plans: dict[int, list[CarePlan]] = {}
            for plan in self.session.scalars(
                select(CarePlan)
                .where(CarePlan.beneficiary_id.in_(chunk))
                .order_by(CarePlan.starts_on, CarePlan.id)
            ):
                plans.setdefault(plan.beneficiary_id, []).append(plan)
            for ben_id in chunk:
                antenna_id, wanted = self._pending[ben_id]
                if self._reconcile(_Ben(ben_id, antenna_id), wanted, plans.get(ben_id, [])):
                    self._changed_ids.add(ben_id)
                self._count(ben_id, 1)
            if self._inserts[CarePlan]:
                insert_many(self.session.connection(), _table(CarePlan), self._inserts[CarePlan])
            self.session.flush()
            self.session.expunge_all()
        if self.full:
            self._end_absent(
                Beneficiary, "care_end", "bénéficiaires", "flows.beneficiary_ended", "beneficiary"
            )

    def _unchanged_plans(self, wanted_plans: list[_Plan], plans: list[_Plan]) -> bool:
        """Whether ``_reconcile`` would change nothing: the plans in force are exactly
        the lines' plans, with the same values and start (a shortcut, never a decision:
        any doubt goes to ``_reconcile``)."""
        in_force = [p for p in plans if p.ends_on is None or p.ends_on >= self.day]
        if not in_force or len(in_force) != len(wanted_plans):
            return False
        only = len(plans) == 1
        for wanted in wanted_plans:
            match = next(
                (p for p in in_force if (p.funder_id, p.service_code, p.reference) == wanted.key),
                None,
            )
            if match is None:
                return False
            in_force = [p for p in in_force if p is not match]
            same = (
                match.funder_id,
                match.service_code,
                match.reference,
                match.max_hours,
                match.ends_on,
            ) == (
                wanted.funder_id,
                wanted.service_code,
                wanted.reference,
                wanted.max_hours,
                wanted.ends_on,
            )
            if not same or wanted.starts_on > match.starts_on:
                return False
            if wanted.starts_on < match.starts_on and only:
                return False
        return not in_force


#: What ``_settle`` reads of a stored plan: its id and beneficiary, then ``_Plan``'s fields.
_PLAN_READ = (
    "id",
    "beneficiary_id",
    "funder_id",
    "service_code",
    "reference",
    "max_hours",
    "starts_on",
    "ends_on",
)


#: The columns of a beneficiary that a line sets (``_Beneficiaries._wanted_person``),
#: in its order, ``sex`` last.
_PERSON_COLUMNS = (
    "civility",
    "last_name",
    "first_name",
    "address",
    "postcode",
    "city",
    "birth_date",
    "gir",
    "antenna_id",
    "care_start",
    "care_end",
    "sex",
)
#: What ``_apply_people`` reads of a stored beneficiary.
_PERSON_READ = ("id", "external_id", *_PERSON_COLUMNS)


class _Person(NamedTuple):
    """A beneficiary of the chunk as its phones need it (no ORM object; a named
    tuple for the same reason as ``_Plan``)."""

    id: int
    external_id: str
    antenna_id: int
    care_start: date


class _Ben(NamedTuple):
    """What plan reconciliation needs of a beneficiary (no ORM object kept across chunks)."""

    id: int
    antenna_id: int


class _Planned(_Applier):
    fmt = formats.PLANNED

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        start, end = values.get("debut"), values.get("fin")
        if start and end and end <= start:
            return [("fin", "fin avant le début")]
        return []

    def apply_chunk(self, rows: list[Row], reject: _RejectWriter) -> None:
        session = self.session
        worker_ids = {v["id_intervenant"] for _, v, _ in rows}
        ben_ids = {v["id_beneficiaire"] for _, v, _ in rows}
        workers = dict(
            session.execute(
                select(Worker.external_id, Worker.id).where(Worker.external_id.in_(worker_ids))
            ).all()
        )
        bens = {
            ext: (bid, antenna)
            for ext, bid, antenna in session.execute(
                select(Beneficiary.external_id, Beneficiary.id, Beneficiary.antenna_id).where(
                    Beneficiary.external_id.in_(ben_ids)
                )
            )
        }
        existing = {
            p.external_id: p
            for p in session.scalars(
                select(PlannedVisit).where(
                    PlannedVisit.external_id.in_([v["id_planning"] for _, v, _ in rows])
                )
            )
        }
        for line, values, raw in rows:
            if values["id_intervenant"] not in workers:
                reject.add(Reject(line, "id_intervenant", "intervenant inconnu", raw))
                continue
            if values["id_beneficiaire"] not in bens:
                reject.add(Reject(line, "id_beneficiaire", "bénéficiaire inconnu", raw))
                continue
            ben_id, antenna_id = bens[values["id_beneficiaire"]]
            wanted = {
                "worker_id": workers[values["id_intervenant"]],
                "beneficiary_id": ben_id,
                "antenna_id": antenna_id,
                "starts_at": values["debut"],
                "ends_at": values["fin"],
                "service_code": values["code_prestation"],
            }
            planned = existing.get(values["id_planning"])
            if planned is None:
                session.add(PlannedVisit(external_id=values["id_planning"], **wanted))
                self.report.created += 1
                continue
            planned.starts_at = as_utc(planned.starts_at)
            planned.ends_at = as_utc(planned.ends_at)
            if self._changed(planned, wanted):
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        session.flush()

    def finish(self) -> None:
        if not self.full:
            return
        day_start, _ = paris_day_bounds(self.day)
        future = self.session.execute(
            select(PlannedVisit.id, PlannedVisit.external_id).where(
                PlannedVisit.starts_at >= day_start
            )
        ).all()
        gone = [pid for pid, ext in future if ext not in self.seen]
        for start in range(0, len(gone), CHUNK_LINES):
            self.session.execute(
                delete(PlannedVisit).where(PlannedVisit.id.in_(gone[start : start + CHUNK_LINES]))
            )
        self.report.removed = len(gone)


class _Absences(_Applier):
    """The beneficiaries' absences, matched by their identifier (decision: docs/flows)."""

    fmt = formats.ABSENCES

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        start, end = values.get("date_debut"), values.get("date_fin")
        if start and end and end < start:
            return [("date_fin", "fin avant le début")]
        return []

    def apply_chunk(self, rows: list[Row], reject: _RejectWriter) -> None:
        session = self.session
        bens = {
            ext: (bid, antenna)
            for ext, bid, antenna in session.execute(
                select(Beneficiary.external_id, Beneficiary.id, Beneficiary.antenna_id).where(
                    Beneficiary.external_id.in_({v["id_beneficiaire"] for _, v, _ in rows})
                )
            )
        }
        existing = {
            a.external_id: a
            for a in session.scalars(
                select(Absence).where(
                    Absence.external_id.in_([v["id_planning"] for _, v, _ in rows])
                )
            )
        }
        for line, values, raw in rows:
            if values["id_beneficiaire"] not in bens:
                reject.add(Reject(line, "id_beneficiaire", "bénéficiaire inconnu", raw))
                continue
            ben_id, antenna_id = bens[values["id_beneficiaire"]]
            wanted = {
                "beneficiary_id": ben_id,
                "kind": formats.ABSENCE_KINDS[values["type"]],
                "starts_on": values["date_debut"],
                "ends_on": values["date_fin"],
            }
            absence = existing.get(values["id_planning"])
            if absence is None:
                absence = Absence(external_id=values["id_planning"], **wanted)
                session.add(absence)
                session.flush()
                self.report.created += 1
                changes = {k: [None, _jsonable(v)] for k, v in wanted.items()}
            else:
                changes = self._changed(absence, wanted)
                if not changes:
                    self.report.unchanged += 1
                    continue
                self.report.updated += 1
            self._audit(
                "flows.absence",
                "absence",
                absence.id,
                antenna_id=antenna_id,
                changes=changes,
            )
        session.flush()

    def finish(self) -> None:
        if not self.full:
            return
        current = self.session.execute(
            select(Absence.id, Absence.external_id, Beneficiary.antenna_id)
            .join(Beneficiary, Beneficiary.id == Absence.beneficiary_id)
            .where(
                Absence.external_id.is_not(None),
                (Absence.ends_on.is_(None)) | (Absence.ends_on >= self.day),
            )
        ).all()
        gone = [(aid, antenna) for aid, ext, antenna in current if ext not in self.seen]
        for absence_id, antenna_id in gone:
            self._audit(
                "flows.absence_removed",
                "absence",
                absence_id,
                antenna_id=antenna_id,
            )
        ids = [aid for aid, _ in gone]
        for start in range(0, len(ids), CHUNK_LINES):
            self.session.execute(
                delete(Absence).where(Absence.id.in_(ids[start : start + CHUNK_LINES]))
            )
        self.report.removed = len(gone)


_APPLIERS: dict[str, type[_Applier]] = {
    formats.WORKERS.key: _Workers,
    formats.BENEFICIARIES.key: _Beneficiaries,
    formats.ABSENCES.key: _Absences,
    formats.PLANNED.key: _Planned,
}


# --- the entry point --------------------------------------------------------


def reject_path_for(data_dir: Path, name: str) -> Path:
    """A reject file path that no earlier run used: nothing is ever overwritten.

    The first run of a name gets ``<stem>_rejets.csv``, later ones ``_2``, ``_3``...
    """
    stem = name[:-4] if name.lower().endswith(".csv") else name
    folder = data_dir / "flows" / "rejects"
    path = folder / f"{stem}_rejets.csv"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{stem}_rejets_{counter}.csv"
    return path


def import_file(
    session_factory: sessionmaker[Session],
    path: Path,
    data_dir: Path,
    *,
    name: str | None = None,
    full: bool = True,
    max_bytes: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import one daily file; see the module docstring. Never raises for bad content.

    ``name`` is the file's name as received (default: ``path.name``): it picks
    the format and the file's date. A refused file (bad name, header,
    encoding, empty, too big) applies nothing and its reject file says why.
    ``progress(bytes read, file size)`` is called after each chunk.
    """
    name = name or path.name
    try:
        safe_name(name)
        found = formats.format_for_name(name)
    except ValueError:
        found = None
    report = ImportReport(
        file_name=name, kind=found[0].key if found else "", file_date=found[1] if found else None
    )
    reject_name = name if found else "fichier_refuse.csv"
    try:
        reject_name = safe_name(reject_name)
    except ValueError:
        reject_name = "fichier_refuse.csv"
    reject = _RejectWriter(reject_path_for(data_dir, reject_name))
    try:
        if found is None:
            raise FileRefused(
                "nom de fichier refusé : attendu intervenants_AAAAMMJJ.csv, "
                "beneficiaires_AAAAMMJJ.csv, absences_AAAAMMJJ.csv ou "
                "interventions_prevues_AAAAMMJJ.csv"
            )
        size = path.stat().st_size
        if max_bytes and size > max_bytes:
            raise FileRefused(f"fichier trop volumineux ({size} octets, {max_bytes} au plus)")
        fmt, file_date = found
        with quiet_collector(), session_factory() as session, session.begin():
            _refuse_older(session, fmt, name)
            applier = _APPLIERS[fmt.key](session, file_date, report, full)
            try:
                _stream(path, fmt, applier, report, reject, progress)
                applier.finish()
            except BaseException:
                applier.abandon()
                raise
            audit(session, ACTOR, "flows.import", "file", name[:40], **report.counts)
    except FileRefused as exc:
        report.refused = str(exc)
        report.created = report.updated = report.unchanged = report.ended = report.removed = 0
        reject.add(Reject(0, "", str(exc), ""))
    except BaseException:
        reject.abort()
        raise
    report.reject_path = reject.finish()
    report.rejected = max(0, reject.count - (1 if report.refused else 0))
    logger.info(
        "import %s: %s%s",
        name,
        report.counts,
        f" refused: {report.refused}" if report.refused else "",
    )
    return report


def _refuse_older(session: Session, fmt: FileFormat, name: str) -> None:
    """A file older than the last one applied of its kind would undo later changes."""
    latest = session.scalar(
        select(func.max(AuditEntry.object_id)).where(
            AuditEntry.action == "flows.import",
            AuditEntry.object_type == "file",
            AuditEntry.object_id.startswith(f"{fmt.key}_", autoescape=True),
        )
    )
    if latest is not None and latest > name:
        raise FileRefused(f"fichier plus ancien que le dernier importé ({latest}) : non appliqué")


def _stream(
    path: Path,
    fmt: FileFormat,
    applier: _Applier,
    report: ImportReport,
    reject: _RejectWriter,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    expected_columns = len(fmt.fields)
    size = path.stat().st_size
    chunk: list[Row] = []
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
            raise FileRefused("encodage UTF-16 non pris en charge : attendu UTF-8 ou Latin-1")
        handle.seek(3 if head[:3] == b"\xef\xbb\xbf" else 0)
        lines = read_lines(handle)
        first = next(lines, None)
        if first is None:
            raise FileRefused("fichier vide : aucune ligne, rien n'a été modifié")
        _, raw_header = first
        try:
            header = decode_line(raw_header or b"").strip()
        except formats.FieldError as exc:
            raise FileRefused(f"en-tête illisible : {exc}") from None
        names = tuple(h.strip().lower() for h in header.split(formats.SEPARATOR))
        if names not in fmt.accepted_names:
            raise FileRefused(f"en-tête inattendu : attendu {fmt.header!r}")
        # A file without the optional trailing columns: they read as empty.
        missing = len(fmt.fields) - len(names)
        expected_columns = len(names)
        for number, raw in lines:
            if raw is None:
                report.lines += 1
                reject.add(
                    Reject(
                        number,
                        "",
                        f"ligne trop longue (plus de {formats.MAX_LINE_BYTES} octets)",
                        "",
                    )
                )
                continue
            if not raw.strip():
                continue
            report.lines += 1
            try:
                text = decode_line(raw)
            except formats.FieldError as exc:
                reject.add(Reject(number, "", str(exc), raw.decode("latin-1")))
                continue
            values = text.split(formats.SEPARATOR)
            if len(values) != expected_columns:
                reject.add(
                    Reject(
                        number, "", f"{len(values)} colonnes au lieu de {expected_columns}", text
                    )
                )
                continue
            typed, errors = formats.parse_values(
                fmt, values + [""] * missing if missing else values
            )
            ext = typed.get("id_planning")
            if ext is not None:
                if ext not in applier.seen:
                    applier.seen[ext] = number
                elif not applier.repeats:
                    errors.insert(
                        0,
                        ("id_planning", f"identifiant en double (déjà ligne {applier.seen[ext]})"),
                    )
            if not errors:
                errors = applier.check(typed)
            if errors:
                field_name, reason = errors[0]
                if len(errors) > 1:
                    reason += (
                        f" (+{len(errors) - 1} autre(s) : "
                        + ", ".join(f for f, _ in errors[1:])
                        + ")"
                    )
                reject.add(Reject(number, field_name, reason, text))
                continue
            chunk.append((number, typed, text))
            if len(chunk) >= CHUNK_LINES or len(reject.pending) >= CHUNK_LINES:
                _apply(applier, chunk, reject)
                chunk = []
                if progress is not None:
                    progress(handle.tell(), size)
        _apply(applier, chunk, reject)
        if progress is not None:
            progress(size, size)
        if report.lines == 0:
            raise FileRefused("fichier vide : aucune ligne après l'en-tête, rien n'a été modifié")


def _apply(applier: _Applier, chunk: list[Row], reject: _RejectWriter) -> None:
    if chunk:
        applier.apply_chunk(chunk, reject)
    reject.flush()
    applier.session.flush()
    # Bounded memory: the transaction stays open, the identity map is emptied.
    applier.session.expunge_all()
