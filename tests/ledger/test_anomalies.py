from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ledger.anomalies import (
    AnomalyKind,
    UnmatchedCall,
    VisitView,
    call_anomalies,
    overlaps,
    visit_anomalies,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def v(vid: int, start: int | None, end: int | None, worker: int = 1, ben: int = 1) -> VisitView:
    at = lambda m: None if m is None else T0 + timedelta(minutes=m)  # noqa: E731
    return VisitView(vid, worker, ben, at(start), at(end))


def kinds(visits: list[VisitView], now: datetime = NOW) -> set[tuple[AnomalyKind, int | None]]:
    return {(a.kind, a.visit_id) for a in visit_anomalies(visits, now=now)}


def test_each_kind() -> None:
    assert kinds([v(1, None, 30)]) == {(AnomalyKind.MISSING_ARRIVAL, 1)}
    assert kinds([v(1, 0, None)]) == {(AnomalyKind.MISSING_DEPARTURE, 1)}
    assert kinds([v(1, 0, 2)]) == {(AnomalyKind.TOO_SHORT, 1)}
    assert kinds([v(1, 0, 13 * 60)]) == {(AnomalyKind.TOO_LONG, 1)}
    assert kinds([v(1, 0, 60)]) == set()


def test_open_visit_is_not_an_anomaly_while_the_worker_is_there() -> None:
    assert kinds([v(1, 0, None)], now=T0 + timedelta(hours=1)) == set()


def test_worker_at_two_places_at_once() -> None:
    found = overlaps([v(1, 0, 60, ben=1), v(2, 30, 90, ben=2), v(3, 90, 120, ben=3)])
    assert [(a.visit_id, a.other_visit_id) for a in found] == [(2, 1)]


def test_overlap_is_per_worker() -> None:
    assert overlaps([v(1, 0, 60, worker=1), v(2, 30, 90, worker=2)]) == []


def test_calls() -> None:
    found = call_anomalies(
        [
            UnmatchedCall(1, T0, beneficiary_identified=False, worker_identified=True),
            UnmatchedCall(2, T0, beneficiary_identified=True, worker_identified=False),
        ]
    )
    assert [(a.kind, a.event_id) for a in found] == [
        (AnomalyKind.UNKNOWN_NUMBER, 1),
        (AnomalyKind.UNKNOWN_WORKER, 2),
    ]


intervals = st.lists(
    st.tuples(st.integers(0, 600), st.integers(1, 240)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=12,
)


@given(intervals)
def test_overlap_found_iff_some_pair_intersects(spans: list[tuple[int, int]]) -> None:
    visits = [v(i, s, e) for i, (s, e) in enumerate(spans)]
    brute = any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])
    assert bool(overlaps(visits)) == brute
