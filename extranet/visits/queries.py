"""Read queries of visits, always scoped to the user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session, joinedload

from extranet.models import User
from extranet.scope import Viewer, scope
from ledger.models import Beneficiary, CallEvent, Visit, VisitStatus, VisitVersion, Worker
from ledger.pairing import MAX_OPEN_VISIT
from ledger.timeutil import as_utc, paris_day_bounds


class _Timed(Protocol):
    status: VisitStatus
    started_at: datetime | None
    ended_at: datetime | None


def display_status(visit: _Timed, now: datetime) -> tuple[str, str]:
    """(css class, French label) of a visit as a manager reads it now."""
    if visit.status is VisitStatus.INCOMPLETE:
        if visit.started_at is not None and visit.ended_at is None:
            if as_utc(now) - as_utc(visit.started_at) < MAX_OPEN_VISIT:
                return "en-cours", "En cours"
            return "incomplete", "Arrivée sans départ"
        if visit.started_at is None:
            return "incomplete", "Départ sans arrivée"
    return visit.status.value, visit.status.label


def visits_of_day(
    session: Session,
    user: User,
    day: date,
    antenna_id: int | None = None,
    *,
    worker_ids: Sequence[int] | None = None,
    beneficiary_ids: Sequence[int] | None = None,
) -> Sequence[Visit]:
    """The day's visits (not deleted), of these workers or beneficiaries when given."""
    query = (
        select(Visit)
        .options(joinedload(Visit.worker), joinedload(Visit.beneficiary))
        .where(Visit.service_date == day, Visit.status != VisitStatus.DELETED)
        .order_by(Visit.started_at, Visit.ended_at, Visit.id)
    )
    if antenna_id is not None:
        query = query.where(Visit.antenna_id == antenna_id)
    if worker_ids is not None:
        query = query.where(Visit.worker_id.in_(worker_ids))
    if beneficiary_ids is not None:
        query = query.where(Visit.beneficiary_id.in_(beneficiary_ids))
    return session.scalars(scope(query, user, Visit)).all()


def day_statuses(
    session: Session, user: User, day: date, now: datetime, antenna_id: int | None = None
) -> dict[str, int]:
    """How many of the day's visits show each status (``display_status``), read light."""
    query = select(Visit.status, Visit.started_at, Visit.ended_at).where(
        Visit.service_date == day, Visit.status != VisitStatus.DELETED
    )
    if antenna_id is not None:
        query = query.where(Visit.antenna_id == antenna_id)
    found: dict[str, int] = {}
    for row in session.execute(scope(query, user, Visit)):
        css = display_status(row, now)[0]
        found[css] = found.get(css, 0) + 1
    return found


def day_groups(
    session: Session,
    user: User,
    day: date,
    model: type[Worker] | type[Beneficiary],
    *,
    limit: int,
    after: int | None = None,
    antenna_id: int | None = None,
) -> list[int]:
    """Ids of the workers (or beneficiaries) with visits that day, by name, after ``after``.

    Keyset pagination: a page starts after the last person of the previous one
    (by last name, first name, id), so that no page counts or skips rows.
    """
    column = Visit.worker_id if model is Worker else Visit.beneficiary_id
    with_visits = select(column).where(
        Visit.service_date == day, Visit.status != VisitStatus.DELETED
    )
    if antenna_id is not None:
        with_visits = with_visits.where(Visit.antenna_id == antenna_id)
    key = tuple_(model.last_name, model.first_name, model.id)
    query = (
        select(model.id)
        .where(model.id.in_(scope(with_visits, user, Visit)))
        .order_by(model.last_name, model.first_name, model.id)
        .limit(limit)
    )
    if after is not None:
        previous = (
            select(model.last_name, model.first_name, model.id).where(model.id == after).subquery()
        )
        query = query.where(
            key > tuple_(previous.c.last_name, previous.c.first_name, previous.c.id)
        )
    return list(session.scalars(query).all())


def visits_between(
    session: Session,
    user: User,
    first: date,
    last: date,
    *,
    antenna_id: int | None = None,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
    limit: int | None = None,
) -> Sequence[Visit]:
    query = (
        select(Visit)
        .options(joinedload(Visit.worker), joinedload(Visit.beneficiary))
        .where(Visit.service_date >= first, Visit.service_date <= last)
        .order_by(Visit.service_date.desc(), Visit.started_at.desc(), Visit.id.desc())
    )
    if antenna_id is not None:
        query = query.where(Visit.antenna_id == antenna_id)
    if beneficiary_id is not None:
        query = query.where(Visit.beneficiary_id == beneficiary_id)
    if worker_id is not None:
        query = query.where(Visit.worker_id == worker_id)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(scope(query, user, Visit)).all()


def moved_away(
    session: Session,
    user: User,
    *,
    worker_id: int | None = None,
    beneficiary_id: int | None = None,
    limit: int = 100,
) -> Sequence[Visit]:
    """Visits a correction moved away from this worker (or beneficiary), latest first."""
    moved = select(VisitVersion.visit_id)
    if worker_id is not None:
        moved = moved.where(VisitVersion.moved_from_worker_id == worker_id)
    if beneficiary_id is not None:
        moved = moved.where(VisitVersion.moved_from_beneficiary_id == beneficiary_id)
    query = (
        select(Visit)
        .options(joinedload(Visit.worker), joinedload(Visit.beneficiary))
        .where(Visit.id.in_(moved))
        .order_by(Visit.service_date.desc(), Visit.id.desc())
        .limit(limit)
    )
    return session.scalars(scope(query, user, Visit)).all()


@dataclass(frozen=True)
class RawCalls:
    """The calls behind a visit, and the other calls from that home that day."""

    own: list[CallEvent]
    nearby: list[CallEvent]


def raw_calls(session: Session, user: Viewer, visit: Visit) -> RawCalls:
    ids = [i for i in (visit.arrival_event_id, visit.departure_event_id) if i is not None]
    own = list(
        session.scalars(
            scope(
                select(CallEvent).where(CallEvent.id.in_(ids)).order_by(CallEvent.answered_at),
                user,
                CallEvent,
            )
        ).all()
    )
    start, end = paris_day_bounds(visit.service_date)
    nearby = session.scalars(
        scope(
            select(CallEvent)
            .where(
                CallEvent.answered_at >= start,
                CallEvent.answered_at < end + timedelta(hours=6),
                or_(
                    CallEvent.beneficiary_id == visit.beneficiary_id,
                    CallEvent.worker_id == visit.worker_id,
                ),
                CallEvent.id.not_in(ids or [0]),
            )
            .order_by(CallEvent.answered_at)
            .limit(50),
            user,
            CallEvent,
        )
    ).all()
    return RawCalls(own, list(nearby))


def choices(session: Session, user: User, model: type[Worker] | type[Beneficiary]) -> list:
    """(id, label) of the workers or beneficiaries the user may pick, by name."""
    rows = session.execute(
        scope(
            select(model.id, model.last_name, model.first_name, model.external_id).order_by(
                model.last_name, model.first_name
            ),
            user,
            model,
        )
    ).all()
    return [(row.id, f"{row.last_name} {row.first_name} ({row.external_id})") for row in rows]
