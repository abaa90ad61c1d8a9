"""The statistics filters: every period kind read back, and every malformed value refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extranet.stats.filters import (
    MAX_DAYS,
    FilterError,
    Period,
    PeriodKind,
    parse_filters,
    parse_period,
    scope_antennas,
)
from ledger.timeutil import Month

ALL = tuple(PeriodKind)
TODAY = date(2026, 11, 20)


def _parse(**args: str) -> Period:
    return parse_period(args, TODAY, ALL, PeriodKind.MONTH)


def test_each_kind_of_period() -> None:
    assert _parse(periode="mois", mois="2026-10") == Period(
        PeriodKind.MONTH, date(2026, 10, 1), date(2026, 10, 31)
    )
    week = _parse(periode="semaine", semaine="2026-W01")
    assert (week.first, week.last) == (date(2025, 12, 29), date(2026, 1, 4))  # ISO weeks
    assert _parse(periode="semestre", semestre="2026-2").first == date(2026, 7, 1)
    assert _parse(periode="semestre", semestre="2026-1").last == date(2026, 6, 30)
    assert _parse(periode="annee", annee="2024").days == 366
    dates = _parse(periode="dates", du="2026-02-27", au="2026-03-02")
    assert dates.days == 4 and [str(m) for m in dates.months] == ["2026-02", "2026-03"]


def test_defaults_hold_today() -> None:
    assert _parse() == Period.month(Month(2026, 11))
    assert _parse(mois="2026-09") == Period.month(Month(2026, 9))  # a bare mois= is a month
    assert _parse(periode="semaine").contains(TODAY)
    assert _parse(periode="semestre").first == date(2026, 7, 1)
    assert _parse(periode="annee").first == date(2026, 1, 1)


def test_labels_are_french() -> None:
    assert _parse(periode="mois", mois="2026-08").label == "août 2026"
    assert _parse(periode="semestre", semestre="2026-1").label == "1er semestre 2026"
    assert _parse(periode="annee", annee="2026").label == "année 2026"
    assert (
        _parse(periode="dates", du="2026-10-01", au="2026-10-15").label
        == "du 1er octobre 2026 au 15 octobre 2026"
    )
    assert _parse(periode="semaine", semaine="2026-W47").label.startswith("semaine 47 de 2026")


@pytest.mark.parametrize(
    "args",
    [
        {"periode": "trimestre"},
        {"periode": "mois", "mois": "2026-13"},
        {"periode": "mois", "mois": "26-1"},
        {"periode": "mois", "mois": "1999-12"},
        {"periode": "semaine", "semaine": "2026-W54"},
        {"periode": "semaine", "semaine": "2026-44"},
        {"periode": "semaine", "semaine": "2026-W٤٤"},
        {"periode": "semestre", "semestre": "2026-3"},
        {"periode": "semestre", "semestre": "2026"},
        {"periode": "annee", "annee": "20266"},
        {"periode": "annee", "annee": "2101"},
        {"periode": "dates", "du": "2026-10-01"},
        {"periode": "dates", "du": "2026-10-31", "au": "2026-10-01"},
        {"periode": "dates", "du": "2026-02-30", "au": "2026-03-01"},
        {"periode": "dates", "du": "2025-01-01", "au": "2026-01-02"},
    ],
)
def test_malformed_periods_are_refused_with_a_reason(args: dict[str, str]) -> None:
    with pytest.raises(FilterError) as error:
        _parse(**args)
    assert str(error.value)


def test_a_period_kind_a_state_does_not_take_is_refused() -> None:
    with pytest.raises(FilterError, match="non prévue"):
        parse_period({"periode": "mois"}, TODAY, (PeriodKind.YEAR,), PeriodKind.YEAR)


def test_the_longest_range_is_accepted() -> None:
    first = date(2026, 1, 1)
    last = first + timedelta(days=MAX_DAYS - 1)
    assert _parse(periode="dates", du=first.isoformat(), au=last.isoformat()).days == MAX_DAYS


@given(st.dates(min_value=date(2000, 1, 10), max_value=date(2099, 12, 20)), st.sampled_from(ALL))
def test_a_period_reads_back_from_its_own_query_string(day: date, kind: PeriodKind) -> None:
    from extranet.stats.filters import default_period

    period = default_period(kind, day)
    assert period.contains(day) or kind is PeriodKind.DATES
    assert parse_period(period.args(), TODAY, ALL, PeriodKind.MONTH) == period


@pytest.mark.parametrize(
    "args",
    [
        {"antenne": "x"},
        {"intervenant": "-1"},
        {"beneficiaire": "1e3"},
        {"beneficiaire": "9" * 13},
        {"financeur": "A" * 21},
        {"type": "autre"},
    ],
)
def test_malformed_filters_are_refused(args: dict[str, str]) -> None:
    with pytest.raises(FilterError):
        parse_filters(
            args, TODAY, periods=ALL, default=PeriodKind.MONTH, options={"type": ("code",)}
        )


def test_filters_read_back_from_their_query_string() -> None:
    filters = parse_filters(
        {
            "antenne": "3",
            "financeur": "APA75",
            "intervenant": "7",
            "beneficiaire": "9",
            "type": "code",
        },
        TODAY,
        periods=ALL,
        default=PeriodKind.MONTH,
        options={"type": ("code",)},
    )
    again = parse_filters(
        filters.args(), TODAY, periods=ALL, default=PeriodKind.MONTH, options={"type": ("code",)}
    )
    assert again == filters


def test_a_manager_asking_for_another_antenna_gets_nothing() -> None:
    assert scope_antennas(frozenset({1}), 2) == frozenset()
    assert scope_antennas(frozenset({1}), 1) == frozenset({1})
    assert scope_antennas(frozenset({1}), None) == frozenset({1})
    assert scope_antennas(None, 2) == frozenset({2})
    assert scope_antennas(None, None) is None
