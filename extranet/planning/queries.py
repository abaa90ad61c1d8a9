"""Planned visits (imported from the planning software): due soon, late, missed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Exists, exists, func, or_, select
from sqlalchemy.orm import Session

from extranet.models import User
from extranet.scope import scope
from ledger.models import Absence, Beneficiary, PlannedVisit, Visit, VisitStatus, Worker
from ledger.timeutil import as_utc, paris_date, paris_day_bounds

#: A planned visit not started this long after its time is late.
LATE_AFTER = timedelta(minutes=15)
#: A call this long before the planned start still counts as that visit.
EARLY_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class PlannedRow:
    planned: PlannedVisit
    worker: Worker
    beneficiary: Beneficiary
    #: "due", "late" or "missed".
    state: str

    @property
    def state_label(self) -> str:
        return {"due": "À venir", "late": "En retard", "missed": "Manquée"}[self.state]


def _started(first_day: date) -> Exists:
    """A visit of the same pair anchored in the planned window.

    ``first_day``: no planned visit of the query starts before that Paris day,
    so no visit anchored in its window (an hour earlier at most) has a service
    day (the Paris day of that anchor) before the day before: the bound lets
    the worker's index read a few days instead of the worker's whole history.
    """
    anchor = func.coalesce(Visit.started_at, Visit.ended_at)
    return exists().where(
        Visit.worker_id == PlannedVisit.worker_id,
        Visit.service_date >= first_day - timedelta(days=1),
        Visit.beneficiary_id == PlannedVisit.beneficiary_id,
        Visit.status != VisitStatus.DELETED,
        anchor >= PlannedVisit.starts_at - EARLY_MARGIN,
        anchor <= PlannedVisit.ends_at,
    )


def _rows(session: Session, user: User, query, state_of) -> list[PlannedRow]:  # type: ignore[no-untyped-def]
    query = (
        query.add_columns(Worker, Beneficiary)
        .join(Worker, Worker.id == PlannedVisit.worker_id)
        .join(Beneficiary, Beneficiary.id == PlannedVisit.beneficiary_id)
        .order_by(PlannedVisit.starts_at, PlannedVisit.id)
        .limit(500)
    )
    return [
        PlannedRow(planned, worker, beneficiary, state_of(planned))
        for planned, worker, beneficiary in session.execute(scope(query, user, PlannedVisit))
    ]


def due_soon(
    session: Session, user: User, now: datetime, antenna_id: int | None = None
) -> list[PlannedRow]:
    query = select(PlannedVisit).where(
        PlannedVisit.starts_at >= now, PlannedVisit.starts_at <= now + timedelta(hours=1)
    )
    if antenna_id is not None:
        query = query.where(PlannedVisit.antenna_id == antenna_id)
    return _rows(session, user, query, lambda _p: "due")


def _absent(day: date) -> Exists:
    """The beneficiary is absent that day (holidays, hospital...): nobody is expected."""
    return exists().where(
        Absence.beneficiary_id == PlannedVisit.beneficiary_id,
        Absence.starts_on <= day,
        or_(Absence.ends_on.is_(None), Absence.ends_on >= day),
    )


def late_or_missed(
    session: Session, user: User, now: datetime, antenna_id: int | None = None
) -> list[PlannedRow]:
    """Today's planned visits not started in time; never those of an absent beneficiary."""
    today = paris_date(now)
    day_start, _ = paris_day_bounds(today)
    query = select(PlannedVisit).where(
        PlannedVisit.starts_at >= day_start,
        PlannedVisit.starts_at <= now - LATE_AFTER,
        ~_started(today),
        ~_absent(today),
    )
    if antenna_id is not None:
        query = query.where(PlannedVisit.antenna_id == antenna_id)
    return _rows(
        session,
        user,
        query,
        lambda p: "missed" if as_utc(p.ends_at) <= as_utc(now) else "late",
    )
