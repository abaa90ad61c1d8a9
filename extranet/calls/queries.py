"""Incomplete calls: open or orphan visits and calls no visit could take, oldest first.

What is incomplete is decided by ``ledger.anomalies``; this module only loads
the rows in the user's scope and the raw calls behind each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from extranet.models import User
from extranet.scope import scope
from ledger.anomalies import (
    OPEN_GRACE,
    AnomalyKind,
    UnmatchedCall,
    VisitView,
    call_anomalies,
    visit_anomalies,
)
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

    @property
    def cursor(self) -> Cursor:
        """Where this item is in the list's order: its time, visits before calls, its id."""
        if self.visit is not None:
            return Cursor(self.at, 0, self.visit.id)
        assert self.event is not None
        return Cursor(self.at, 1, self.event.id)


@dataclass(frozen=True, order=True)
class Cursor:
    """A place in the list (keyset pagination): the items strictly after it come next."""

    at: datetime
    #: 0 for a visit, 1 for a call: at the same moment, visits come first.
    source: int
    id: int

    def token(self) -> str:
        return f"{as_utc(self.at).isoformat()}_{self.source}_{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor | None:
        """The cursor of a page's link; None when malformed (the list starts again)."""
        try:
            at, source, ident = token.split("_")
            cursor = cls(as_utc(datetime.fromisoformat(at)), int(source), int(ident))
        except (ValueError, OverflowError):
            return None
        if cursor.source not in (0, 1) or not 0 < cursor.id < 2**63:
            return None
        return cursor


@dataclass(frozen=True)
class Page:
    items: list[Incomplete]
    #: The cursor of the next page; None on the last one.
    next: Cursor | None


def _after(
    column: Any, ident: Any, source: int, cursor: Cursor | None
) -> ColumnElement[bool] | None:
    """The rows of ``source`` (0 visits, 1 calls) strictly after the cursor, in the list's order."""
    if cursor is None:
        return None
    same_time = column == cursor.at
    if source < cursor.source:
        return column > cursor.at
    if source > cursor.source:
        return or_(column > cursor.at, same_time)
    return or_(column > cursor.at, and_(same_time, ident > cursor.id))


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
    """Every incomplete item of the period, oldest first (bounded by the period only)."""
    return incomplete_page(
        session, user, since=since, now=now, antenna_id=antenna_id, until=until
    ).items


def incomplete_page(
    session: Session,
    user: User,
    *,
    since: date,
    now: datetime,
    antenna_id: int | None = None,
    until: date | None = None,
    limit: int | None = None,
    after: Cursor | None = None,
    raw_calls: bool = True,
) -> Page:
    """At most ``limit`` incomplete items after ``after``, oldest first, and the next cursor.

    ``raw_calls``: give each incomplete visit its calls (``Incomplete.calls``), which
    the incomplete-calls page shows and the alerts' list does not.
    """
    # Only the visits ``visit_anomalies`` finds incomplete (arrival without departure
    # after the grace, departure without arrival), in the list's order; the rule
    # itself decides below.
    visit_anchor = func.coalesce(Visit.started_at, Visit.ended_at)
    visit_query = (
        select(Visit)
        .options(joinedload(Visit.worker), joinedload(Visit.beneficiary))
        .where(
            Visit.status == VisitStatus.INCOMPLETE,
            Visit.service_date >= since,
            or_(
                and_(Visit.started_at.is_(None), Visit.ended_at.is_not(None)),
                and_(Visit.ended_at.is_(None), Visit.started_at <= now - OPEN_GRACE),
            ),
        )
        .order_by(visit_anchor, Visit.id)
    )
    since_utc = paris_day_bounds(since)[0]
    call_query = (
        select(CallEvent)
        .where(
            CallEvent.received_at >= since_utc,
            or_(CallEvent.beneficiary_id.is_(None), CallEvent.worker_id.is_(None)),
            *_unattached(),
        )
        .order_by(CallEvent.answered_at, CallEvent.id)
    )
    visit_after = _after(visit_anchor, Visit.id, 0, after)
    call_after = _after(CallEvent.answered_at, CallEvent.id, 1, after)
    if visit_after is not None and call_after is not None:
        visit_query = visit_query.where(visit_after)
        call_query = call_query.where(call_after)
    if limit is not None:
        visit_query = visit_query.limit(limit + 1)
        call_query = call_query.limit(limit + 1)
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
    for anomaly in visit_anomalies(views, now=now, open_grace=OPEN_GRACE):
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
    found.sort(key=lambda item: item.cursor)
    following = None
    if limit is not None and len(found) > limit:
        found = found[:limit]
        following = found[-1].cursor
    if raw_calls:
        _attach_raw_calls(session, user, [i for i in found if i.visit is not None])
    return Page(found, following)


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
