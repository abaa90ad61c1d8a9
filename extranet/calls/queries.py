"""Incomplete calls: open or orphan visits and calls no visit could take, oldest first.

What is incomplete is decided by ``ledger.anomalies``; this module only loads
the rows in the user's scope and the raw calls behind each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, joinedload

from extranet.models import User
from extranet.scope import scope
from ledger.anomalies import AnomalyKind, UnmatchedCall, VisitView, call_anomalies, visit_anomalies
from ledger.models import CallEvent, Visit, VisitStatus
from ledger.timeutil import as_utc, paris_day_bounds

#: The kinds a manager resolves on the incomplete-calls screen.
INCOMPLETE_KINDS = frozenset(
    {
        AnomalyKind.MISSING_ARRIVAL,
        AnomalyKind.MISSING_DEPARTURE,
        AnomalyKind.UNKNOWN_NUMBER,
        AnomalyKind.UNKNOWN_WORKER,
    }
)


@dataclass
class Incomplete:
    kind: AnomalyKind
    at: datetime
    antenna_id: int | None
    visit: Visit | None = None
    event: CallEvent | None = None
    calls: list[CallEvent] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.kind.label


def _unattached() -> list:  # type: ignore[type-arg]
    return [
        ~exists().where(Visit.arrival_event_id == CallEvent.id),
        ~exists().where(Visit.departure_event_id == CallEvent.id),
    ]


def incomplete(
    session: Session,
    user: User,
    *,
    since: date,
    now: datetime,
    antenna_id: int | None = None,
    until: date | None = None,
) -> list[Incomplete]:
    visit_query = (
        select(Visit)
        .options(joinedload(Visit.worker), joinedload(Visit.beneficiary))
        .where(Visit.status == VisitStatus.INCOMPLETE, Visit.service_date >= since)
    )
    since_utc = paris_day_bounds(since)[0]
    call_query = (
        select(CallEvent)
        .where(
            CallEvent.received_at >= since_utc,
            or_(CallEvent.beneficiary_id.is_(None), CallEvent.worker_id.is_(None)),
            *_unattached(),
        )
        .order_by(CallEvent.received_at)
    )
    if until is not None:
        visit_query = visit_query.where(Visit.service_date <= until)
        call_query = call_query.where(CallEvent.received_at < paris_day_bounds(until)[1])
    if antenna_id is not None:
        visit_query = visit_query.where(Visit.antenna_id == antenna_id)
        call_query = call_query.where(CallEvent.antenna_id == antenna_id)
    visits = {v.id: v for v in session.scalars(scope(visit_query, user, Visit)).unique()}
    events = {e.id: e for e in session.scalars(scope(call_query, user, CallEvent))}

    views = [
        VisitView(v.id, v.worker_id, v.beneficiary_id, v.started_at, v.ended_at)
        for v in visits.values()
    ]
    calls = [
        UnmatchedCall(e.id, e.answered_at, e.beneficiary_id is not None, e.worker_id is not None)
        for e in events.values()
    ]
    found: list[Incomplete] = []
    for anomaly in visit_anomalies(views, now=now):
        if anomaly.kind in INCOMPLETE_KINDS and anomaly.visit_id is not None:
            visit = visits[anomaly.visit_id]
            anchor = visit.started_at or visit.ended_at
            assert anchor is not None
            found.append(Incomplete(anomaly.kind, as_utc(anchor), visit.antenna_id, visit=visit))
    for anomaly in call_anomalies(calls):
        if anomaly.event_id is not None:
            event = events[anomaly.event_id]
            found.append(
                Incomplete(
                    anomaly.kind,
                    as_utc(event.answered_at),
                    event.antenna_id,
                    event=event,
                    calls=[event],
                )
            )
    _attach_raw_calls(session, user, [i for i in found if i.visit is not None])
    found.sort(key=lambda item: item.at)
    return found


def _attach_raw_calls(session: Session, user: User, items: list[Incomplete]) -> None:
    ids = {
        event_id
        for item in items
        if item.visit is not None
        for event_id in (item.visit.arrival_event_id, item.visit.departure_event_id)
        if event_id is not None
    }
    if not ids:
        return
    events = {
        e.id: e
        for e in session.scalars(
            scope(select(CallEvent).where(CallEvent.id.in_(sorted(ids))), user, CallEvent)
        )
    }
    for item in items:
        assert item.visit is not None
        item.calls = [
            events[i]
            for i in (item.visit.arrival_event_id, item.visit.departure_event_id)
            if i is not None and i in events
        ]


def is_attached(session: Session, event_id: int) -> bool:
    return (
        session.scalars(
            select(Visit.id).where(
                or_(Visit.arrival_event_id == event_id, Visit.departure_event_id == event_id)
            )
        ).first()
        is not None
    )
