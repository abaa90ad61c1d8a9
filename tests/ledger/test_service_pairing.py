"""The live write path (record_call, one call at a time) gives the visits of the pure rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import service
from ledger.models import CallOutcome, Identification, Visit
from ledger.pairing import CallFact, Direction, pair_calls
from ledger.timeutil import as_utc
from tests import factories

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
_channels = itertools.count()

calls = st.lists(
    st.tuples(
        st.integers(0, 1),  # worker index
        st.integers(0, 1),  # beneficiary index
        st.integers(0, 60 * 30),  # minutes
        st.sampled_from(list(Direction)),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda c: c[2],
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=calls)
@example(  # a newer arrival abandons the older one; a second departure closes nothing
    raw=[
        (1, 0, 0, Direction.ARRIVAL),
        (1, 0, 1, Direction.ARRIVAL),
        (1, 0, 2, Direction.DEPARTURE),
        (1, 0, 3, Direction.DEPARTURE),
    ]
)
def test_record_call_matches_pair_calls(
    session: Session, raw: list[tuple[int, int, int, Direction]]
) -> None:
    antenna = factories.antenna(session)
    workers = [factories.worker(session, antenna, code=f"9{next(_channels):06d}") for _ in range(2)]
    homes = [factories.beneficiary(session, antenna) for _ in range(2)]
    facts = []
    for w, b, minutes, direction in sorted(raw, key=lambda c: c[2]):
        at = T0 + timedelta(minutes=minutes)
        result = service.record_call(
            session,
            service.CallRecord(
                channel_id=f"p-{next(_channels)}",
                received_at=at,
                answered_at=at,
                caller_raw=None,
                ani_raw=None,
                called_number=None,
                digits="1",
                code_completed_at=at,
                beneficiary_id=homes[b].id,
                worker_id=workers[w].id,
                identification=Identification.OK,
                direction=direction,
                outcome=CallOutcome.RECORDED,
            ),
        )
        facts.append(CallFact(result.event_id, workers[w].id, homes[b].id, at, direction))
    session.commit()
    stored = session.scalars(
        select(Visit).where(Visit.worker_id.in_([w.id for w in workers])).order_by(Visit.id)
    ).all()
    got = [
        (
            v.worker_id,
            v.beneficiary_id,
            v.arrival_event_id,
            v.departure_event_id,
            as_utc(v.started_at) if v.started_at else None,
            as_utc(v.ended_at) if v.ended_at else None,
        )
        for v in stored
    ]
    want = [
        (
            v.worker_id,
            v.beneficiary_id,
            v.arrival_event_id,
            v.departure_event_id,
            v.started_at,
            v.ended_at,
        )
        for v in pair_calls(facts)
    ]
    # Sorted by repr: the tuples hold None, which does not order.
    assert sorted(got, key=repr) == sorted(want, key=repr)
