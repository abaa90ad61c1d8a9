"""The ledger's bulk path leaves the same visits as ``record_call`` one call at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import service
from ledger.bulk import BulkConflict, bulk_record_calls
from ledger.models import (
    CallEvent,
    CallOutcome,
    CallSource,
    Identification,
    Visit,
    VisitVersion,
)
from ledger.pairing import CallFact, Direction
from ledger.service import CallRecord
from tests import factories

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)

#: (minutes after T0, direction): a worker's calls at one home, in any order of kinds.
calls = st.lists(
    st.tuples(st.integers(0, 600), st.sampled_from([Direction.ARRIVAL, Direction.DEPARTURE])),
    min_size=1,
    max_size=12,
    unique_by=lambda c: c[0],
).map(sorted)


def _shape(session: Session, worker_id: int) -> list[tuple[Any, ...]]:
    """Visits as comparable tuples: times, status, latest version, calls held (by order).

    The live path writes a version at each call (arrival, then departure); the
    bulk path loads a past and writes one version per visit, equal to the live
    path's latest.
    """
    order = {
        eid: i
        for i, eid in enumerate(
            session.scalars(
                select(CallEvent.id)
                .where(CallEvent.worker_id == worker_id)
                .order_by(CallEvent.answered_at)
            )
        )
    }
    rows = []
    for visit in session.scalars(
        select(Visit).where(Visit.worker_id == worker_id).order_by(Visit.id)
    ):
        latest = session.scalars(
            select(VisitVersion)
            .where(VisitVersion.visit_id == visit.id)
            .order_by(VisitVersion.version.desc())
        ).first()
        assert latest is not None and latest.version == visit.version
        rows.append(
            (
                visit.started_at and visit.started_at.replace(tzinfo=None),
                visit.ended_at and visit.ended_at.replace(tzinfo=None),
                visit.status,
                visit.service_date,
                latest.started_at and latest.started_at.replace(tzinfo=None),
                latest.ended_at and latest.ended_at.replace(tzinfo=None),
                latest.status,
                order.get(visit.arrival_event_id) if visit.arrival_event_id else None,
                order.get(visit.departure_event_id) if visit.departure_event_id else None,
            )
        )
    return sorted(rows, key=lambda r: r[6] if r[6] is not None else r[7])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stream=calls)
def test_bulk_equals_one_by_one(session: Session, stream: list[tuple[int, Direction]]) -> None:
    ant = factories.antenna(session)
    live_worker, bulk_worker = factories.worker(session, ant), factories.worker(session, ant)
    live_ben, bulk_ben = factories.beneficiary(session, ant), factories.beneficiary(session, ant)
    session.commit()

    for i, (minutes, direction) in enumerate(stream):
        at = T0 + timedelta(minutes=minutes)
        service.record_call(
            session,
            CallRecord(
                channel_id=f"live-{live_worker.id}-{i}",
                received_at=at - timedelta(seconds=1),
                answered_at=at,
                caller_raw=None,
                ani_raw=None,
                called_number="0800000000",
                digits="1234",
                code_completed_at=at,
                beneficiary_id=live_ben.id,
                worker_id=live_worker.id,
                identification=Identification.OK,
                direction=direction,
                outcome=CallOutcome.RECORDED,
            ),
        )
    session.commit()

    next_id = (session.scalar(select(func.max(CallEvent.id))) or 0) + 1
    events, facts = [], []
    for i, (minutes, direction) in enumerate(stream):
        at = T0 + timedelta(minutes=minutes)
        events.append(
            {
                "id": next_id + i,
                "channel_id": f"bulk-{bulk_worker.id}-{i}",
                "received_at": at - timedelta(seconds=1),
                "answered_at": at,
                "code_completed_at": at,
                "caller_raw": None,
                "caller_e164": None,
                "ani_raw": None,
                "called_number": "0800000000",
                "digits": "1234",
                "beneficiary_id": bulk_ben.id,
                "worker_id": bulk_worker.id,
                "antenna_id": ant.id,
                "identification": Identification.OK,
                "direction": direction,
                "outcome": CallOutcome.RECORDED,
                "source": CallSource.ARI,
                "recorded_at": at,
            }
        )
        facts.append(CallFact(next_id + i, bulk_worker.id, bulk_ben.id, at, direction))
    result = bulk_record_calls(session, events, facts, author="test:bulk")
    session.commit()

    assert result.call_events == len(stream)
    assert _shape(session, bulk_worker.id) == _shape(session, live_worker.id)


def _live_call(session: Session, worker_id: int, ben_id: int, at: datetime, d: Direction) -> None:
    service.record_call(
        session,
        CallRecord(
            channel_id=f"live-{worker_id}-{at.isoformat()}",
            received_at=at - timedelta(seconds=1),
            answered_at=at,
            caller_raw=None,
            ani_raw=None,
            called_number="0800000000",
            digits="1234",
            code_completed_at=at,
            beneficiary_id=ben_id,
            worker_id=worker_id,
            identification=Identification.OK,
            direction=d,
            outcome=CallOutcome.RECORDED,
        ),
    )


def _bulk_stream(
    session: Session, worker_id: int, ben_id: int, antenna_id: int, stream: list[Any]
) -> tuple[list[dict[str, Any]], list[CallFact]]:
    next_id = (session.scalar(select(func.max(CallEvent.id))) or 0) + 1
    events, facts = [], []
    for i, (at, direction) in enumerate(stream):
        events.append(
            {
                "id": next_id + i,
                "channel_id": f"bulk-{worker_id}-{i}",
                "received_at": at - timedelta(seconds=1),
                "answered_at": at,
                "code_completed_at": at,
                "caller_raw": None,
                "caller_e164": None,
                "ani_raw": None,
                "called_number": "0800000000",
                "digits": "1234",
                "beneficiary_id": ben_id,
                "worker_id": worker_id,
                "antenna_id": antenna_id,
                "identification": Identification.OK,
                "direction": direction,
                "outcome": CallOutcome.RECORDED,
                "source": CallSource.ARI,
                "recorded_at": at,
            }
        )
        facts.append(CallFact(next_id + i, worker_id, ben_id, at, direction))
    return events, facts


def test_bulk_refuses_a_stream_that_meets_visits_in_the_ledger(session: Session) -> None:
    """An arrival already recorded would be closed by the stream's departure:
    the bulk path, which pairs the stream alone, refuses and writes nothing."""
    ant = factories.antenna(session)
    worker, ben = factories.worker(session, ant), factories.beneficiary(session, ant)
    session.commit()
    _live_call(session, worker.id, ben.id, T0, Direction.ARRIVAL)
    session.commit()
    events, facts = _bulk_stream(
        session, worker.id, ben.id, ant.id, [(T0 + timedelta(hours=1), Direction.DEPARTURE)]
    )
    before = session.scalar(select(func.count()).select_from(CallEvent))
    with pytest.raises(BulkConflict):
        bulk_record_calls(session, events, facts, author="test:bulk")
    assert session.scalar(select(func.count()).select_from(CallEvent)) == before


def test_bulk_appends_after_an_older_past(session: Session) -> None:
    """Visits that no call of the stream can reach (ended more than
    ``MAX_OPEN_VISIT`` before it) do not stop the bulk path, and the result is
    the one-by-one result."""
    ant = factories.antenna(session)
    live_worker, bulk_worker = factories.worker(session, ant), factories.worker(session, ant)
    live_ben, bulk_ben = factories.beneficiary(session, ant), factories.beneficiary(session, ant)
    session.commit()
    old = T0 - timedelta(days=2)
    for worker in (live_worker, bulk_worker):
        ben = live_ben if worker is live_worker else bulk_ben
        _live_call(session, worker.id, ben.id, old, Direction.ARRIVAL)
        _live_call(session, worker.id, ben.id, old + timedelta(hours=1), Direction.DEPARTURE)
        _live_call(session, worker.id, ben.id, old + timedelta(hours=3), Direction.ARRIVAL)
    session.commit()
    stream = [(T0, Direction.ARRIVAL), (T0 + timedelta(hours=1), Direction.DEPARTURE)]
    for at, direction in stream:
        _live_call(session, live_worker.id, live_ben.id, at, direction)
    events, facts = _bulk_stream(session, bulk_worker.id, bulk_ben.id, ant.id, stream)
    bulk_record_calls(session, events, facts, author="test:bulk")
    session.commit()
    assert _shape(session, bulk_worker.id) == _shape(session, live_worker.id)
