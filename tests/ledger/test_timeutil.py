from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ledger.timeutil import duration, paris_day_bounds, paris_to_utc, to_paris


def test_visit_across_spring_forward_lasts_one_hour() -> None:
    # Last Sunday of March 2026: 02:00 local jumps to 03:00.
    start = paris_to_utc(datetime(2026, 3, 29, 1, 30))
    end = paris_to_utc(datetime(2026, 3, 29, 3, 30))
    assert duration(start, end) == timedelta(hours=1)


def test_visit_across_fall_back_lasts_three_hours() -> None:
    # Last Sunday of October 2026: 03:00 local goes back to 02:00.
    start = paris_to_utc(datetime(2026, 10, 25, 1, 30))
    end = paris_to_utc(datetime(2026, 10, 25, 3, 30))
    assert duration(start, end) == timedelta(hours=3)


def test_ambiguous_time_uses_fold() -> None:
    first = paris_to_utc(datetime(2026, 10, 25, 2, 30), fold=0)
    second = paris_to_utc(datetime(2026, 10, 25, 2, 30), fold=1)
    assert second - first == timedelta(hours=1)


def test_nonexistent_time_moves_forward() -> None:
    moved = paris_to_utc(datetime(2026, 3, 29, 2, 30))
    assert to_paris(moved).hour == 3 and to_paris(moved).minute == 30


def test_day_lengths_around_changes() -> None:
    for day, hours in ((date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 11, 23), 24)):
        start, end = paris_day_bounds(day)
        assert end - start == timedelta(hours=hours)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_utc_round_trip(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert paris_to_utc(to_paris(aware).replace(tzinfo=None), fold=to_paris(aware).fold) == aware
