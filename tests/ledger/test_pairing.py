"""Pairing calls into visits: examples and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.pairing import (
    MAX_OPEN_VISIT,
    CallFact,
    Direction,
    Inference,
    PairedVisit,
    apply_call,
    infer_direction,
    pair_calls,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def call(
    event_id: int, minutes: int, direction: Direction, worker: int = 1, ben: int = 1
) -> CallFact:
    return CallFact(event_id, worker, ben, T0 + timedelta(minutes=minutes), direction)


def test_arrival_then_departure_is_one_complete_visit() -> None:
    visits = pair_calls([call(1, 0, Direction.ARRIVAL), call(2, 60, Direction.DEPARTURE)])
    assert visits == [PairedVisit(1, 1, T0, T0 + timedelta(hours=1), 1, 2)]


def test_departure_without_arrival_has_no_start() -> None:
    (visit,) = pair_calls([call(1, 30, Direction.DEPARTURE)])
    assert visit.started_at is None and visit.ended_at is not None
    assert visit.departure_event_id == 1


def test_arrival_never_closed_stays_open() -> None:
    (visit,) = pair_calls([call(1, 0, Direction.ARRIVAL)])
    assert visit.is_open


def test_second_arrival_leaves_first_open_and_departure_closes_second() -> None:
    visits = pair_calls(
        [
            call(1, 0, Direction.ARRIVAL),
            call(2, 120, Direction.ARRIVAL),
            call(3, 180, Direction.DEPARTURE),
        ]
    )
    assert [v.arrival_event_id for v in visits] == [1, 2]
    assert visits[0].is_open
    assert visits[1].departure_event_id == 3


def test_departure_after_too_long_does_not_close() -> None:
    minutes = int(MAX_OPEN_VISIT.total_seconds() // 60) + 1
    visits = pair_calls([call(1, 0, Direction.ARRIVAL), call(2, minutes, Direction.DEPARTURE)])
    assert len(visits) == 2 and visits[0].is_open and visits[1].started_at is None


def test_two_workers_at_one_home_pair_separately() -> None:
    visits = pair_calls(
        [
            call(1, 0, Direction.ARRIVAL, worker=1),
            call(2, 5, Direction.ARRIVAL, worker=2),
            call(3, 60, Direction.DEPARTURE, worker=1),
            call(4, 65, Direction.DEPARTURE, worker=2),
        ]
    )
    assert {(v.worker_id, v.arrival_event_id, v.departure_event_id) for v in visits} == {
        (1, 1, 3),
        (2, 2, 4),
    }


def test_apply_call_refuses_a_foreign_open_visit() -> None:
    other = PairedVisit(9, 1, T0, None, 1, None)
    with pytest.raises(ValueError):
        apply_call(other, call(2, 10, Direction.DEPARTURE))


def test_infer_direction() -> None:
    open_visit = PairedVisit(1, 1, T0, None, 1, None)
    assert infer_direction(None, None, T0) is Inference.ARRIVAL
    assert infer_direction(open_visit, None, T0 + timedelta(hours=1)) is Inference.DEPARTURE
    assert infer_direction(open_visit, None, T0 + MAX_OPEN_VISIT * 2) is Inference.ASK
    assert infer_direction(None, T0, T0 + timedelta(minutes=2)) is Inference.ASK
    assert infer_direction(None, T0, T0 + timedelta(hours=2)) is Inference.ARRIVAL


calls_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=3),  # worker
        st.integers(min_value=1, max_value=3),  # beneficiary
        st.integers(min_value=0, max_value=60 * 24 * 2),  # minutes
        st.sampled_from(list(Direction)),
    ),
    max_size=60,
)


def _facts(raw: list[tuple[int, int, int, Direction]]) -> list[CallFact]:
    return [call(i, m, d, worker=w, ben=b) for i, (w, b, m, d) in enumerate(raw, start=1)]


@given(calls_strategy)
def test_every_call_lands_in_exactly_one_visit(raw: list[tuple[int, int, int, Direction]]) -> None:
    facts = _facts(raw)
    visits = pair_calls(facts)
    used = [v.arrival_event_id for v in visits if v.arrival_event_id is not None] + [
        v.departure_event_id for v in visits if v.departure_event_id is not None
    ]
    assert sorted(used) == sorted(f.event_id for f in facts)


@given(calls_strategy)
def test_visits_are_well_formed(raw: list[tuple[int, int, int, Direction]]) -> None:
    facts = {f.event_id: f for f in _facts(raw)}
    for visit in pair_calls(facts.values()):
        assert visit.started_at is not None or visit.ended_at is not None
        if visit.arrival_event_id is not None:
            arrival = facts[visit.arrival_event_id]
            assert arrival.direction is Direction.ARRIVAL and arrival.at == visit.started_at
            assert (arrival.worker_id, arrival.beneficiary_id) == (
                visit.worker_id,
                visit.beneficiary_id,
            )
        if visit.departure_event_id is not None:
            departure = facts[visit.departure_event_id]
            assert departure.direction is Direction.DEPARTURE and departure.at == visit.ended_at
        if visit.is_complete:
            assert visit.started_at is not None and visit.ended_at is not None
            assert timedelta(0) <= visit.ended_at - visit.started_at <= MAX_OPEN_VISIT


@given(calls_strategy, st.randoms(use_true_random=False))
def test_pairing_does_not_depend_on_input_order(
    raw: list[tuple[int, int, int, Direction]], rnd
) -> None:  # type: ignore[no-untyped-def]
    facts = _facts(raw)
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    assert pair_calls(facts) == pair_calls(shuffled)


@given(calls_strategy)
def test_folding_one_by_one_equals_batch(raw: list[tuple[int, int, int, Direction]]) -> None:
    """The live path (apply_call per call) and the batch path agree."""
    facts = sorted(_facts(raw), key=lambda f: (f.at, f.event_id))
    live: list[PairedVisit] = []
    open_index: dict[tuple[int, int], int] = {}
    for fact in facts:
        key = (fact.worker_id, fact.beneficiary_id)
        index = open_index.pop(key, None)
        outcome = apply_call(live[index] if index is not None else None, fact)
        if outcome.closes_open_visit:
            assert index is not None
            live[index] = outcome.visit
        else:
            live.append(outcome.visit)
            if outcome.visit.is_open:
                open_index[key] = len(live) - 1
    assert live == pair_calls(facts)
