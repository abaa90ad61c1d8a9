from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.timeutil import Month, duration, paris_day_bounds, paris_to_utc, to_paris


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


# --- Month -------------------------------------------------------------------

months = st.builds(Month, st.integers(1900, 2200), st.integers(1, 12))


@given(months)
def test_month_next_and_previous_are_inverse(month: Month) -> None:
    assert month.next().previous() == month
    assert month.previous().next() == month
    assert month.previous() < month < month.next()


@given(months)
def test_month_days_are_contiguous_and_bounds_are_paris_midnights(month: Month) -> None:
    assert month.next().first_day - month.last_day == timedelta(days=1)
    start, end = month.bounds_utc()
    assert to_paris(start).replace(tzinfo=None) == datetime(month.year, month.month, 1)
    assert end == month.next().bounds_utc()[0]
    assert month.contains(month.first_day) and month.contains(month.last_day)
    assert not month.contains(month.next().first_day)
    assert Month.parse(str(month)) == month


def test_month_across_the_year_and_in_french() -> None:
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2027, 1).previous() == Month(2026, 12)
    assert Month.of(date(2027, 1, 9)).previous() == Month(2026, 12)
    assert Month(2026, 11).label == "novembre 2026"
    assert Month.span(date(2026, 11, 20), date(2027, 1, 3)) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
    ]


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "26-11", "2026-1", "²026-11", "", "abcd-ef"]
)
def test_month_refuses_what_is_not_a_month(text: str) -> None:
    with pytest.raises(ValueError, match="mois"):
        Month.parse(text)


@given(
    first=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
    days=st.integers(min_value=0, max_value=800),
    keep=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_day_ranges_cover_exactly_the_months_days_in_the_period(
    first: date, days: int, keep: list[bool]
) -> None:
    """Every day of the chosen months within the period, once; ranges in order, apart."""
    last = first + timedelta(days=days)
    months = [m for m, kept in zip(Month.span(first, last), keep, strict=False) if kept]
    ranges = Month.day_ranges(months, first, last)
    covered = [a + timedelta(days=n) for a, b in ranges for n in range((b - a).days + 1)]
    wanted = [
        first + timedelta(days=n)
        for n in range(days + 1)
        if Month.of(first + timedelta(days=n)) in months
    ]
    assert covered == wanted
    # Neighbouring months make one range: two ranges always have a day between them.
    assert all(b + timedelta(days=1) < c for (_, b), (c, _) in pairwise(ranges))
