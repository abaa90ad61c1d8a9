"""The one place that writes call events, visits and their versions.

Functions take a session and plain values, add rows and flush; the caller
owns the transaction (one per call event, per request, per job).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ledger import closing
from ledger.models import (
    AuditEntry,
    Beneficiary,
    CallEvent,
    CallOutcome,
    CallSource,
    Identification,
    MonthClosure,
    Phone,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.motives import Motive
from ledger.pairing import (
    MAX_OPEN_VISIT,
    CallFact,
    Direction,
    Inference,
    PairedVisit,
    apply_call,
    infer_direction,
)
from ledger.phones import kind_of, normalise
from ledger.timeutil import Month, as_utc, paris_date, utc_now

SYSTEM_IVR = "system:ivr"


class LedgerError(Exception):
    """A request the ledger refuses; the message is safe to show to a user (French)."""


class MonthClosed(LedgerError):
    """A write that would change a closed month (``ledger.closing``)."""

    def __init__(self, month: Month) -> None:
        self.month = month
        super().__init__(str(closing.MonthClosedError(month)))


def refuse_if_closed(session: Session, *days: date | None) -> None:
    """Raise ``MonthClosed`` when any of these days' months is closed.

    The closure rows are read with a shared lock (PostgreSQL): a close, which
    takes the row for update, waits for this write to commit and then sees it
    in the figures it checks, so no write slips in between a close's check and
    its commit.
    """
    months = closing.months_of(days)
    if not months:
        return
    _check_closures(
        session.execute(
            select(MonthClosure.year, MonthClosure.month, MonthClosure.closed)
            .where(
                or_(
                    *(
                        and_(MonthClosure.year == m.year, MonthClosure.month == m.month)
                        for m in months
                    )
                )
            )
            .with_for_update(read=True)
        )
    )


def _check_closures(rows: Iterable[Any]) -> None:
    for row in rows:
        life = closing.MonthLife(Month(row.year, row.month), closed=row.closed)
        try:
            closing.check_writable(life)
        except closing.MonthClosedError as refused:
            raise MonthClosed(refused.month) from None


#: ``refuse_if_closed`` for one day, as the write path of ``record_call`` runs it
#: (built once; the session has been flushed at its start).
_CLOSURE_OF_MONTH = (
    select(MonthClosure.year, MonthClosure.month, MonthClosure.closed)
    .where(MonthClosure.year == bindparam("year"), MonthClosure.month == bindparam("month"))
    .with_for_update(read=True)
)


def _refuse_if_month_closed(session: Session, day: date) -> None:
    month = Month.of(day)
    _check_closures(
        session.connection().execute(_CLOSURE_OF_MONTH, {"year": month.year, "month": month.month})
    )


@dataclass(frozen=True, slots=True)
class CallRecord:
    """Everything the IVR knows about a call when it ends or is confirmed."""

    channel_id: str
    received_at: datetime
    answered_at: datetime
    caller_raw: str | None
    ani_raw: str | None
    called_number: str | None
    digits: str | None
    code_completed_at: datetime | None
    beneficiary_id: int | None
    worker_id: int | None
    identification: Identification
    direction: Direction | None
    outcome: CallOutcome
    source: CallSource = CallSource.ARI
    #: A shared number nothing decided on: the candidates' ids, "12,34".
    candidate_ids: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedCall:
    event_id: int
    visit_id: int | None
    already_recorded: bool


# --- lookups the IVR needs -------------------------------------------------


# The IVR's reads run a few times a call: their statements are built once, with
# bound parameters (building them cost as much as running them, decision 0105).
_NUMBER_ACTIVE = (
    Phone.e164 == bindparam("e164"),
    Phone.active_from <= bindparam("on"),
    or_(Phone.active_until.is_(None), Phone.active_until >= bindparam("on")),
)
_BENEFICIARIES_BY_NUMBER = (
    select(Beneficiary)
    .join(Phone, Phone.beneficiary_id == Beneficiary.id)
    .where(*_NUMBER_ACTIVE)
    .distinct()
    .order_by(Beneficiary.id)
)
_BENEFICIARY_IDS_BY_NUMBER = (
    select(Beneficiary.id)
    .join(Phone, Phone.beneficiary_id == Beneficiary.id)
    .where(*_NUMBER_ACTIVE)
    .distinct()
    .order_by(Beneficiary.id)
)
_WORKER_BY_CODE = select(Worker).where(
    Worker.phone_code == bindparam("code"),
    Worker.active_from <= bindparam("on"),
    or_(Worker.active_until.is_(None), Worker.active_until >= bindparam("on")),
)
_PAIR = (
    Visit.worker_id == bindparam("worker"),
    Visit.beneficiary_id == bindparam("beneficiary"),
)
_LATEST_CALLED_IN = (
    select(Visit)
    .where(
        *_PAIR,
        or_(Visit.arrival_event_id.is_not(None), Visit.departure_event_id.is_not(None)),
    )
    .order_by(func.coalesce(Visit.started_at, Visit.ended_at).desc(), Visit.id.desc())
    .limit(1)
)
_LAST_CLOSED_END = (
    select(Visit.ended_at)
    .where(*_PAIR, Visit.ended_at.is_not(None))
    .order_by(Visit.ended_at.desc())
    .limit(1)
)


def find_beneficiaries_by_number(session: Session, raw: str | None, on: date) -> list[Beneficiary]:
    """Every beneficiary whose active phone list holds this number (a couple shares one)."""
    e164 = normalise(raw)
    if e164 is None:
        return []
    return list(session.scalars(_BENEFICIARIES_BY_NUMBER, {"e164": e164, "on": on}))


def beneficiary_ids_by_number(session: Session, raw: str | None, on: date) -> list[int]:
    """The ids of ``find_beneficiaries_by_number``, without loading the people."""
    e164 = normalise(raw)
    if e164 is None:
        return []
    return list(session.scalars(_BENEFICIARY_IDS_BY_NUMBER, {"e164": e164, "on": on}))


def find_beneficiary_by_number(session: Session, raw: str | None, on: date) -> Beneficiary | None:
    """The beneficiary whose active phone list holds this number, if exactly one does."""
    found = find_beneficiaries_by_number(session, raw, on)
    # A number shared by two homes cannot identify either: a manager attaches it.
    return found[0] if len(found) == 1 else None


def find_worker_by_code(session: Session, code: str, on: date) -> Worker | None:
    return session.scalars(_WORKER_BY_CODE, {"code": code, "on": on}).first()


def open_visit(session: Session, worker_id: int, beneficiary_id: int) -> Visit | None:
    """The visit a departure would close: the pair's latest called-in visit, if still open.

    An older open visit is abandoned once a newer visit exists (as in
    ``ledger.pairing.pair_calls``): it stays incomplete for a manager.
    """
    latest = session.scalars(
        _LATEST_CALLED_IN, {"worker": worker_id, "beneficiary": beneficiary_id}
    ).first()
    if (
        latest is not None
        and latest.status is VisitStatus.INCOMPLETE
        and latest.started_at is not None
        and latest.ended_at is None
    ):
        return latest
    return None


def last_closed_end(session: Session, worker_id: int, beneficiary_id: int) -> datetime | None:
    return session.scalars(
        _LAST_CLOSED_END, {"worker": worker_id, "beneficiary": beneficiary_id}
    ).first()


def _paired(visit: Visit | None) -> PairedVisit | None:
    if visit is None:
        return None
    return PairedVisit(
        visit.worker_id,
        visit.beneficiary_id,
        as_utc(visit.started_at) if visit.started_at else None,
        as_utc(visit.ended_at) if visit.ended_at else None,
        visit.arrival_event_id,
        visit.departure_event_id,
    )


def direction_for(
    session: Session, worker_id: int, beneficiary_id: int, now: datetime
) -> Inference:
    return infer_direction(
        _paired(open_visit(session, worker_id, beneficiary_id)),
        last_closed_end(session, worker_id, beneficiary_id),
        now,
    )


# --- writes ----------------------------------------------------------------


def audit(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: object | None,
    *,
    antenna_id: int | None = None,
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            antenna_id=antenna_id,
            details=details,
        )
    )


_EVENTS: Table = CallEvent.__table__  # type: ignore[assignment]
_VISITS: Table = Visit.__table__  # type: ignore[assignment]
_VERSIONS: Table = VisitVersion.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_BENEFICIARIES: Table = Beneficiary.__table__  # type: ignore[assignment]
_WORKERS: Table = Worker.__table__  # type: ignore[assignment]


# The write path's statements, built once (building them cost as much as running them).
_EVENT_BY_CHANNEL = select(_EVENTS.c.id).where(_EVENTS.c.channel_id == bindparam("channel"))
_BENEFICIARY_ANTENNA = select(_BENEFICIARIES.c.antenna_id).where(
    _BENEFICIARIES.c.id == bindparam("id")
)
_WORKER_ANTENNA = select(_WORKERS.c.antenna_id).where(_WORKERS.c.id == bindparam("id"))
_OPEN_VISIT_COLUMNS = (
    "id",
    "worker_id",
    "beneficiary_id",
    "antenna_id",
    "started_at",
    "ended_at",
    "arrival_event_id",
    "departure_event_id",
    "status",
    "service_date",
    "version",
)
#: ``open_visit``'s query, as columns.
_LATEST_CALLED_VISIT = (
    select(*(_VISITS.c[name] for name in _OPEN_VISIT_COLUMNS))
    .where(
        _VISITS.c.worker_id == bindparam("worker"),
        _VISITS.c.beneficiary_id == bindparam("beneficiary"),
        or_(_VISITS.c.arrival_event_id.is_not(None), _VISITS.c.departure_event_id.is_not(None)),
    )
    .order_by(func.coalesce(_VISITS.c.started_at, _VISITS.c.ended_at).desc(), _VISITS.c.id.desc())
    .limit(1)
)


_UPDATE_VISIT = update(_VISITS).where(_VISITS.c.id == bindparam("visit"))


def record_call(session: Session, record: CallRecord) -> RecordedCall:
    """Store a call event and fold it into the visits. Idempotent on the channel id.

    The IVR's write path, one call event after another (decision 0105): the
    same rows and rules as a manager's attachment through ``_fold_call``, written
    with Core statements instead of the ORM's unit of work, which cost the
    commit thread about 5 ms of CPU an event (``bench/ivr/ledger_path.py``).
    ``tests/ledger/test_record_core.py`` checks that both leave the same rows.
    """
    # What the caller added through the ORM is written first, as autoflush would.
    session.flush()
    existing = (
        session.connection().execute(_EVENT_BY_CHANNEL, {"channel": record.channel_id}).scalar()
    )
    if existing is not None:
        return RecordedCall(existing, _visit_of_event(session, existing), True)

    antenna_id = _antenna_id(session, record.beneficiary_id, record.worker_id)
    event_id = _insert(
        session,
        _EVENTS,
        {
            "channel_id": record.channel_id,
            "received_at": record.received_at,
            "answered_at": record.answered_at,
            "code_completed_at": record.code_completed_at,
            "caller_raw": record.caller_raw,
            "caller_e164": normalise(record.caller_raw),
            "ani_raw": record.ani_raw,
            "called_number": record.called_number,
            "digits": record.digits,
            "candidate_ids": record.candidate_ids,
            "beneficiary_id": record.beneficiary_id,
            "worker_id": record.worker_id,
            "antenna_id": antenna_id,
            "identification": record.identification,
            "direction": record.direction,
            "outcome": record.outcome,
            "source": record.source,
        },
    )
    visit_id = None
    if (
        record.outcome is CallOutcome.RECORDED
        and record.worker_id is not None
        and record.beneficiary_id is not None
        and record.direction is not None
    ):
        assert antenna_id is not None
        fact = CallFact(
            event_id,
            record.worker_id,
            record.beneficiary_id,
            as_utc(record.answered_at),
            record.direction,
        )
        try:
            visit_id = _fold_ivr_call(session, fact, antenna_id)
        except MonthClosed as closed:
            # A real call is a fact and is kept; its visit would change a closed
            # month, so it waits, unattached, on that month's closing page until
            # a referent reopens the month and a manager attaches it.
            _audit_row(
                session,
                SYSTEM_IVR,
                "call.held",
                "call_event",
                event_id,
                antenna_id,
                {"month": str(closed.month), "reason": "month_closed"},
            )
    _audit_row(
        session,
        SYSTEM_IVR,
        "call.recorded",
        "call_event",
        event_id,
        antenna_id,
        {"outcome": record.outcome.value, "visit_id": visit_id},
    )
    return RecordedCall(event_id, visit_id, False)


def _insert(session: Session, table: Table, values: dict[str, Any]) -> int:
    """One row in the session's transaction; its new id."""
    key = session.connection().execute(insert(table), values).inserted_primary_key
    assert key is not None
    return int(key[0])


def _audit_row(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    antenna_id: int | None,
    details: dict[str, Any],
) -> None:
    """``audit`` as one Core insert (the same row)."""
    session.connection().execute(
        insert(_AUDIT),
        {
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "antenna_id": antenna_id,
            "details": details,
        },
    )


@dataclass(frozen=True, slots=True)
class _OpenVisit:
    """The columns of a visit a call folds into."""

    id: int
    worker_id: int
    beneficiary_id: int
    antenna_id: int
    started_at: datetime | None
    ended_at: datetime | None
    arrival_event_id: int | None
    departure_event_id: int | None
    status: VisitStatus
    service_date: date
    version: int


def _open_visit_row(session: Session, worker_id: int, beneficiary_id: int) -> _OpenVisit | None:
    """``open_visit`` as columns; a Visit the session holds is read as the ORM would."""
    row = (
        session.connection()
        .execute(_LATEST_CALLED_VISIT, {"worker": worker_id, "beneficiary": beneficiary_id})
        .first()
    )
    if row is None:
        return None
    held = session.identity_map.get(identity_key(Visit, row.id))
    latest = (
        _OpenVisit(*(getattr(held, name) for name in _OPEN_VISIT_COLUMNS))
        if isinstance(held, Visit)
        else _OpenVisit(*row)
    )
    if (
        latest.status is VisitStatus.INCOMPLETE
        and latest.started_at is not None
        and latest.ended_at is None
    ):
        return latest
    return None


def _fold_ivr_call(session: Session, fact: CallFact, antenna_id: int) -> int:
    """``_fold_call`` for a call the IVR recorded (author ``system:ivr``, no motive),
    in Core statements; ``antenna_id`` is the beneficiary's. Returns the visit's id."""
    current = _open_visit_row(session, fact.worker_id, fact.beneficiary_id)
    pairing = apply_call(
        None
        if current is None
        else PairedVisit(
            current.worker_id,
            current.beneficiary_id,
            as_utc(current.started_at) if current.started_at else None,
            as_utc(current.ended_at) if current.ended_at else None,
            current.arrival_event_id,
            current.departure_event_id,
        ),
        fact,
    )
    if pairing.closes_open_visit:
        assert current is not None
        _refuse_if_month_closed(session, current.service_date)
        started_at, ended_at = pairing.visit.started_at, pairing.visit.ended_at
        status = VisitStatus.COMPLETE
        version = current.version + 1
        anchor = started_at or ended_at
        changes = {
            "version": version,
            "started_at": started_at,
            "ended_at": ended_at,
            "status": status,
            "departure_event_id": fact.event_id,
            "service_date": paris_date(anchor) if anchor is not None else current.service_date,
        }
        session.connection().execute(_UPDATE_VISIT, {"visit": current.id, **changes})
        held = session.identity_map.get(identity_key(Visit, current.id))
        if held is not None:
            # A Visit the session holds now reads what the ORM would have set on it.
            for name, value in changes.items():
                set_committed_value(held, name, value)
        session.connection().execute(
            insert(_VERSIONS),
            {
                "visit_id": current.id,
                "version": version,
                "started_at": started_at,
                "ended_at": ended_at,
                "status": status,
                "motive": None,
                "comment": "",
                "author": SYSTEM_IVR,
                "moved_from_worker_id": None,
                "moved_from_beneficiary_id": None,
            },
        )
        _audit_row(
            session,
            SYSTEM_IVR,
            "visit.version",
            "visit",
            current.id,
            current.antenna_id,
            {
                "version": version,
                "motive": None,
                "before": {
                    "started_at": current.started_at.isoformat() if current.started_at else None,
                    "ended_at": current.ended_at.isoformat() if current.ended_at else None,
                    "status": current.status.value,
                    "worker_id": current.worker_id,
                    "beneficiary_id": current.beneficiary_id,
                },
                "after": {
                    "started_at": started_at.isoformat() if started_at else None,
                    "ended_at": ended_at.isoformat() if ended_at else None,
                    "status": status.value,
                    "worker_id": current.worker_id,
                    "beneficiary_id": current.beneficiary_id,
                },
            },
        )
        return current.id
    service_date = paris_date(fact.at)
    _refuse_if_month_closed(session, service_date)
    visit_id = _insert(
        session,
        _VISITS,
        {
            "worker_id": fact.worker_id,
            "beneficiary_id": fact.beneficiary_id,
            "antenna_id": antenna_id,
            "arrival_event_id": pairing.visit.arrival_event_id,
            "departure_event_id": pairing.visit.departure_event_id,
            "started_at": pairing.visit.started_at,
            "ended_at": pairing.visit.ended_at,
            "service_date": service_date,
            "status": VisitStatus.INCOMPLETE,
            "service_code": None,
            "version": 1,
        },
    )
    session.connection().execute(
        insert(_VERSIONS),
        {
            "visit_id": visit_id,
            "version": 1,
            "started_at": pairing.visit.started_at,
            "ended_at": pairing.visit.ended_at,
            "status": VisitStatus.INCOMPLETE,
            "motive": None,
            "comment": "",
            "author": SYSTEM_IVR,
            "moved_from_worker_id": None,
            "moved_from_beneficiary_id": None,
        },
    )
    return visit_id


def _fold_call(
    session: Session,
    fact: CallFact,
    *,
    author: str,
    motive: Motive | None = None,
    comment: str = "",
) -> Visit:
    current = open_visit(session, fact.worker_id, fact.beneficiary_id)
    pairing = apply_call(_paired(current), fact)
    if pairing.closes_open_visit:
        assert current is not None
        refuse_if_closed(session, current.service_date)
        return _new_version(
            session,
            current,
            started_at=pairing.visit.started_at,
            ended_at=pairing.visit.ended_at,
            status=VisitStatus.COMPLETE if motive is None else VisitStatus.CORRECTED,
            author=author,
            motive=motive,
            comment=comment,
            departure_event_id=fact.event_id,
        )
    refuse_if_closed(session, paris_date(fact.at))
    antenna_id = _antenna_of(session, fact.beneficiary_id, fact.worker_id)
    assert antenna_id is not None
    visit = Visit(
        worker_id=fact.worker_id,
        beneficiary_id=fact.beneficiary_id,
        antenna_id=antenna_id,
        arrival_event_id=pairing.visit.arrival_event_id,
        departure_event_id=pairing.visit.departure_event_id,
        started_at=pairing.visit.started_at,
        ended_at=pairing.visit.ended_at,
        service_date=paris_date(fact.at),
        status=VisitStatus.INCOMPLETE,
        version=1,
    )
    session.add(visit)
    session.flush()
    session.add(
        VisitVersion(
            visit_id=visit.id,
            version=1,
            started_at=visit.started_at,
            ended_at=visit.ended_at,
            status=visit.status,
            motive=motive,
            comment=comment,
            author=author,
        )
    )
    return visit


def _new_version(
    session: Session,
    visit: Visit,
    *,
    started_at: datetime | None,
    ended_at: datetime | None,
    status: VisitStatus,
    author: str,
    motive: Motive | None,
    comment: str,
    departure_event_id: int | None = None,
    worker_id: int | None = None,
    beneficiary_id: int | None = None,
) -> Visit:
    before = {
        "started_at": visit.started_at.isoformat() if visit.started_at else None,
        "ended_at": visit.ended_at.isoformat() if visit.ended_at else None,
        "status": visit.status.value,
        "worker_id": visit.worker_id,
        "beneficiary_id": visit.beneficiary_id,
    }
    moved_from_worker = None
    if worker_id is not None and worker_id != visit.worker_id:
        moved_from_worker, visit.worker_id = visit.worker_id, worker_id
    moved_from_beneficiary = None
    if beneficiary_id is not None and beneficiary_id != visit.beneficiary_id:
        moved_from_beneficiary, visit.beneficiary_id = visit.beneficiary_id, beneficiary_id
    visit.version += 1
    visit.started_at = started_at
    visit.ended_at = ended_at
    visit.status = status
    if departure_event_id is not None:
        visit.departure_event_id = departure_event_id
    anchor = started_at or ended_at
    if anchor is not None:
        visit.service_date = paris_date(anchor)
    session.add(
        VisitVersion(
            visit_id=visit.id,
            version=visit.version,
            started_at=started_at,
            ended_at=ended_at,
            status=status,
            motive=motive,
            comment=comment,
            author=author,
            moved_from_worker_id=moved_from_worker,
            moved_from_beneficiary_id=moved_from_beneficiary,
        )
    )
    audit(
        session,
        author,
        "visit.version",
        "visit",
        visit.id,
        antenna_id=visit.antenna_id,
        version=visit.version,
        motive=motive.value if motive else None,
        before=before,
        after={
            "started_at": started_at.isoformat() if started_at else None,
            "ended_at": ended_at.isoformat() if ended_at else None,
            "status": status.value,
            "worker_id": visit.worker_id,
            "beneficiary_id": visit.beneficiary_id,
        },
    )
    session.flush()
    return visit


def _check_times(started_at: datetime | None, ended_at: datetime | None) -> None:
    if started_at is None or ended_at is None:
        raise LedgerError("L'heure d'arrivée et l'heure de départ sont obligatoires.")
    if as_utc(ended_at) <= as_utc(started_at):
        raise LedgerError("L'heure de départ doit suivre l'heure d'arrivée.")
    if as_utc(ended_at) - as_utc(started_at) > MAX_OPEN_VISIT:
        raise LedgerError("Une intervention ne peut pas dépasser 14 heures.")
    if as_utc(started_at) > utc_now():
        raise LedgerError("Une intervention ne peut pas commencer dans le futur.")


def correct_visit(
    session: Session,
    visit: Visit,
    *,
    started_at: datetime | None,
    ended_at: datetime | None,
    motive: Motive | None,
    comment: str,
    author: str,
    delete: bool = False,
    worker: Worker | None = None,
    beneficiary: Beneficiary | None = None,
) -> Visit:
    """A manager's correction: a new version with who, when and why.

    ``worker`` or ``beneficiary`` moves the visit to another person of the same
    antenna (a colleague's code keyed, a call from the neighbour's); the raw
    calls are left as they were and the version names who had the visit.
    """
    if motive is None:
        raise LedgerError("Le motif de correction est obligatoire.")
    if motive is Motive.OTHER and not comment.strip():
        raise LedgerError("Précisez le motif en commentaire.")
    if worker is not None and worker.antenna_id != visit.antenna_id:
        raise LedgerError("L'intervenant choisi n'appartient pas à l'antenne de l'intervention.")
    if beneficiary is not None and beneficiary.antenna_id != visit.antenna_id:
        raise LedgerError("Le bénéficiaire choisi n'appartient pas à l'antenne de l'intervention.")
    moves = {
        "worker_id": worker.id if worker is not None else None,
        "beneficiary_id": beneficiary.id if beneficiary is not None else None,
    }
    refuse_if_closed(
        session,
        visit.service_date,
        None if delete or started_at is None else paris_date(started_at),
    )
    if delete:
        return _new_version(
            session,
            visit,
            started_at=visit.started_at,
            ended_at=visit.ended_at,
            status=VisitStatus.DELETED,
            author=author,
            motive=motive,
            comment=comment,
            **moves,
        )
    _check_times(started_at, ended_at)
    return _new_version(
        session,
        visit,
        started_at=started_at,
        ended_at=ended_at,
        status=VisitStatus.CORRECTED,
        author=author,
        motive=motive,
        comment=comment,
        **moves,
    )


def enter_manual_visit(
    session: Session,
    *,
    worker: Worker,
    beneficiary: Beneficiary,
    started_at: datetime,
    ended_at: datetime,
    motive: Motive | None,
    comment: str,
    author: str,
    service_code: str | None = None,
) -> Visit:
    """A visit that could not be called in, entered by hand with its motive."""
    if motive is None:
        raise LedgerError("Le motif de saisie manuelle est obligatoire.")
    _check_times(started_at, ended_at)
    refuse_if_closed(session, paris_date(started_at))
    visit = Visit(
        worker_id=worker.id,
        beneficiary_id=beneficiary.id,
        antenna_id=beneficiary.antenna_id,
        started_at=started_at,
        ended_at=ended_at,
        service_date=paris_date(started_at),
        status=VisitStatus.MANUAL,
        service_code=service_code,
        version=1,
    )
    session.add(visit)
    session.flush()
    session.add(
        VisitVersion(
            visit_id=visit.id,
            version=1,
            started_at=started_at,
            ended_at=ended_at,
            status=VisitStatus.MANUAL,
            motive=motive,
            comment=comment,
            author=author,
        )
    )
    audit(
        session,
        author,
        "visit.manual",
        "visit",
        visit.id,
        antenna_id=visit.antenna_id,
        motive=motive.value,
        worker_id=worker.id,
        beneficiary_id=beneficiary.id,
    )
    session.flush()
    return visit


def attach_call(
    session: Session,
    event: CallEvent,
    *,
    beneficiary: Beneficiary,
    worker: Worker,
    direction: Direction,
    author: str,
    comment: str = "",
    add_phone: bool = False,
) -> Visit:
    """Attach a call the IVR could not place (unknown number or code) to a visit.

    The raw event is left as it was; the visit refers to it and its version
    records who attached it and why.
    """
    if _visit_of_event(session, event.id) is not None:
        raise LedgerError("Cet appel est déjà rattaché à une intervention.")
    fact = CallFact(event.id, worker.id, beneficiary.id, as_utc(event.answered_at), direction)
    visit = _fold_call(
        session, fact, author=author, motive=Motive.NUMBER_NOT_REGISTERED, comment=comment
    )
    if add_phone and event.caller_e164:
        known = session.scalars(
            select(Phone).where(
                Phone.beneficiary_id == beneficiary.id, Phone.e164 == event.caller_e164
            )
        ).first()
        if known is None:
            session.add(
                Phone(
                    beneficiary_id=beneficiary.id,
                    e164=event.caller_e164,
                    kind=kind_of(event.caller_e164),
                    active_from=paris_date(event.answered_at),
                )
            )
            audit(
                session,
                author,
                "phone.added",
                "beneficiary",
                beneficiary.id,
                antenna_id=beneficiary.antenna_id,
                e164=event.caller_e164,
            )
    audit(
        session,
        author,
        "call.attached",
        "call_event",
        event.id,
        antenna_id=beneficiary.antenna_id,
        visit_id=visit.id,
    )
    session.flush()
    return visit


def _visit_of_event(session: Session, event_id: int) -> int | None:
    return session.scalars(
        select(Visit.id).where(
            or_(Visit.arrival_event_id == event_id, Visit.departure_event_id == event_id)
        )
    ).first()


def _antenna_of(session: Session, beneficiary_id: int | None, worker_id: int | None) -> int | None:
    if beneficiary_id is not None:
        return session.get_one(Beneficiary, beneficiary_id).antenna_id
    if worker_id is not None:
        return session.get_one(Worker, worker_id).antenna_id
    return None


def _antenna_id(session: Session, beneficiary_id: int | None, worker_id: int | None) -> int | None:
    """``_antenna_of`` without loading the person (one column)."""
    if beneficiary_id is not None:
        found = session.connection().execute(_BENEFICIARY_ANTENNA, {"id": beneficiary_id})
    elif worker_id is not None:
        found = session.connection().execute(_WORKER_ANTENNA, {"id": worker_id})
    else:
        return None
    return int(found.scalar_one())
