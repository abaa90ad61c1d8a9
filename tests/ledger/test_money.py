"""Pure pre-billing rules: rounding, plan allocation, and the no-minute-lost property."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.money import (
    Category,
    MoneyRuleError,
    Period,
    Rounding,
    RoundingMode,
    allocate_month,
    counts,
    format_hours,
    kept_period,
    parse_rounding_rules,
    recorded_minutes,
)
from ledger.timeutil import paris_to_utc, to_paris
from tests.billing_export.builders import plan, visit

# --- rounding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "rule", "kept"),
    [
        # The standard's forum examples, for a planned hour.
        (65, Rounding(15, RoundingMode.DOWN), 60),  # 1h05 kept as 1h
        (65, Rounding(15, RoundingMode.NEAREST), 60),
        (46, Rounding(15, RoundingMode.NEAREST), 45),  # 46 min kept as 45
        (46, Rounding(15, RoundingMode.DOWN), 45),
        (80, Rounding(30, RoundingMode.NEAREST), 90),  # 1h20 kept as 1h30 (half-hour)
        (80, Rounding(30, RoundingMode.UP), 90),
        (80, Rounding(30, RoundingMode.DOWN), 60),
        (75, Rounding(30, RoundingMode.NEAREST), 90),  # a tie goes up
        (61, Rounding(5, RoundingMode.UP), 65),
        (58, Rounding(10, RoundingMode.DOWN, tolerance=2), 60),  # within the tolerance
        (57, Rounding(10, RoundingMode.DOWN, tolerance=2), 50),
        (60, Rounding(30, RoundingMode.UP), 60),  # on a step: unchanged
        (0, Rounding(15, RoundingMode.UP), 0),
        (47, Rounding(), 47),  # default: to the minute
    ],
)
def test_rounding_rules(minutes: int, rule: Rounding, kept: int) -> None:
    assert rule.kept_minutes(minutes) == kept


def test_default_drops_seconds_of_both_ends() -> None:
    start = datetime.fromisoformat("2026-10-05T08:00:50+00:00")
    end = datetime.fromisoformat("2026-10-05T09:00:10+00:00")  # 59 min 20 s recorded
    kept = kept_period(Period(start, end), Rounding())
    assert kept.start == datetime.fromisoformat("2026-10-05T08:00:00+00:00")
    assert kept.minutes == 60  # 08:00 -> 09:00 once seconds are dropped


@pytest.mark.parametrize(
    "spec",
    ["APA75=7/down", "APA75=15/sideways", "APA75", "=15/down", "APA75=15/down/15", "X=1/up/1"],
)
def test_bad_rounding_rules_are_refused(spec: str) -> None:
    with pytest.raises(MoneyRuleError):
        parse_rounding_rules(spec)


def test_rounding_rules_parse() -> None:
    rules = parse_rounding_rules(" APA75=15/nearest/5 , PCH75=30/UP ")
    assert rules == {
        "APA75": Rounding(15, RoundingMode.NEAREST, 5),
        "PCH75": Rounding(30, RoundingMode.UP, 0),
    }


# --- allocation -------------------------------------------------------------


def _by_funder(result_lines: object) -> dict[tuple[str, Category], int]:
    totals: dict[tuple[str, Category], int] = defaultdict(int)
    for line in result_lines:  # type: ignore[attr-defined]
        totals[(line.key.funder_code, line.key.category)] += line.kept_minutes
    return dict(totals)


def test_funder_change_mid_month_follows_the_plan_in_force_each_day() -> None:
    old = plan(
        funder="CNAV",
        kind="CAISSE",
        departement=False,
        service="CAISSE-AIDE",
        ends=date(2026, 10, 14),
    )
    new = plan(starts=date(2026, 10, 15))
    visits = [visit(datetime(2026, 10, day, 9), 90) for day in (2, 14, 15, 30)]
    result = allocate_month(2026, 10, visits, [old, new])
    assert _by_funder(result.lines) == {
        ("CNAV", Category.WITHIN): 180,
        ("APA75", Category.WITHIN): 180,
    }


def test_plan_ending_mid_month_leaves_later_visits_outside_any_plan() -> None:
    ending = plan(ends=date(2026, 10, 20))
    visits = [visit(datetime(2026, 10, 20, 18), 60), visit(datetime(2026, 10, 21, 9), 45)]
    result = allocate_month(2026, 10, visits, [ending])
    assert _by_funder(result.lines) == {
        ("APA75", Category.WITHIN): 60,
        ("", Category.OUTSIDE): 45,
    }


def test_two_funders_fill_in_priority_order_then_beyond() -> None:
    apa = plan(hours=2)  # Département first
    mutual = plan(
        funder="MUTPARIS", kind="MUTUELLE", departement=False, service="SORTIE-HOSP", hours=1
    )
    visits = [visit(datetime(2026, 10, d, 9), 50) for d in (1, 2, 3, 4)]  # 200 min
    result = allocate_month(2026, 10, visits, [mutual, apa])
    assert _by_funder(result.lines) == {
        ("APA75", Category.WITHIN): 120,
        ("MUTPARIS", Category.WITHIN): 60,
        ("APA75", Category.BEYOND): 20,
    }
    # The third visit straddles the APA maximum: its kept period is cut in two.
    third = result.visits[2]
    assert [(s.plan.funder_code if s.plan else "", s.minutes) for s in third.shares] == [
        ("APA75", 20),
        ("MUTPARIS", 30),
    ]
    assert third.shares[0].kept.end == third.shares[1].kept.start


def test_service_code_selects_the_funder() -> None:
    apa = plan(service="APA-AIDE")
    pch = plan(funder="PCH75", kind="PCH", service="PCH-AIDE")
    visits = [
        visit(datetime(2026, 10, 1, 9), 60, service="PCH-AIDE"),
        visit(datetime(2026, 10, 1, 14), 30, service="APA-AIDE"),
        visit(datetime(2026, 10, 2, 9), 15, service="MENAGE"),
    ]
    result = allocate_month(2026, 10, visits, [apa, pch])
    assert _by_funder(result.lines) == {
        ("PCH75", Category.WITHIN): 60,
        ("APA75", Category.WITHIN): 30,
        ("", Category.OUTSIDE): 15,
    }


def test_split_by_worker() -> None:
    apa = plan()
    visits = [
        visit(datetime(2026, 10, 1, 9), 60, worker=1),
        visit(datetime(2026, 10, 1, 14), 30, worker=2),
        visit(datetime(2026, 10, 2, 9), 30, worker=1),
    ]
    result = allocate_month(2026, 10, visits, [apa])
    assert {(ln.key.worker_id, ln.visits, ln.kept_minutes) for ln in result.lines} == {
        (1, 2, 90),
        (2, 1, 30),
    }


def test_rounding_follows_the_funder_of_the_first_candidate_plan() -> None:
    apa = plan(funder="APA75")
    other = plan(ben=2, funder="CNAV", kind="CAISSE", departement=False)
    visits = [visit(datetime(2026, 10, 1, 9), 46), visit(datetime(2026, 10, 1, 9), 46, ben=2)]
    result = allocate_month(2026, 10, visits, [apa, other], parse_rounding_rules("APA75=15/down"))
    assert [vb.kept.minutes for vb in result.visits] == [45, 46]
    assert [vb.recorded.seconds for vb in result.visits] == [46 * 60, 46 * 60]


def test_month_across_the_october_daylight_saving_change() -> None:
    apa = plan()
    # 25 Oct 2026: clocks go back from 03:00 CEST to 02:00 CET.
    night = visit(datetime(2026, 10, 25, 1, 30), 120)  # 01:30 CEST -> 02:30 CET
    repeated = visit(datetime(2026, 10, 25, 2, 30), 30, fold=1)  # the second 02:30
    march_like = visit(datetime(2026, 10, 31, 23, 30), 60)  # ends on 1 Nov, still October
    result = allocate_month(2026, 10, [night, repeated, march_like], [apa])
    assert [vb.kept.minutes for vb in result.visits] == [120, 30, 60]
    assert night.ended_at == paris_to_utc(datetime(2026, 10, 25, 2, 30), fold=1)
    assert sum(ln.kept_minutes for ln in result.lines) == 210


def test_visits_of_another_month_and_incomplete_visits_are_not_billed() -> None:
    apa = plan()
    september = visit(datetime(2026, 9, 30, 23, 30), 60)
    incomplete = replace(visit(datetime(2026, 10, 3, 9), 60), ended_at=None, clocked_end=None)
    result = allocate_month(2026, 10, [september, incomplete], [apa])
    assert result.visits == ()
    assert [v.visit_id for v in result.unbillable] == [incomplete.visit_id]


# --- property: no minute lost or counted twice -------------------------------

OCT_FIRST = paris_to_utc(datetime(2026, 10, 1))


@st.composite
def month_data(draw: st.DrawFn) -> tuple[list, list, dict]:  # type: ignore[type-arg]
    plans = []
    for pid in range(1, draw(st.integers(0, 4)) + 1):
        start = date(2026, 10, 1) + timedelta(days=draw(st.integers(-40, 30)))
        length = draw(st.one_of(st.none(), st.integers(0, 60)))
        dep = draw(st.booleans())
        plans.append(
            plan(
                plan_id=pid,
                ben=draw(st.integers(1, 2)),
                funder=draw(st.sampled_from(["APA75", "PCH75", "CNAV", "MUT"])),
                departement=dep,
                service=draw(st.sampled_from(["A", "B"])),
                hours=draw(st.integers(0, 20)) / 2,
                starts=start,
                ends=None if length is None else start + timedelta(days=length),
            )
        )
    visits = []
    for vid in range(1, draw(st.integers(0, 40)) + 1):
        offset = draw(st.integers(-2 * 24 * 3600, 33 * 24 * 3600))
        moment = to_paris(OCT_FIRST + timedelta(seconds=offset))
        v = visit(
            moment.replace(tzinfo=None),
            draw(st.integers(0, 14 * 3600)) / 60,
            ben=draw(st.integers(1, 2)),
            worker=draw(st.integers(1, 3)),
            service=draw(st.sampled_from([None, "A", "B"])),
            visit_id=vid,
            fold=moment.fold,
        )
        visits.append(v)
    rules = {
        code: Rounding(
            step := draw(st.sampled_from([1, 5, 10, 15, 30])),
            draw(st.sampled_from(list(RoundingMode))),
            draw(st.integers(0, step - 1)) if step > 1 else 0,
        )
        for code in draw(st.sets(st.sampled_from(["APA75", "PCH75", "CNAV", "MUT"])))
    }
    return visits, plans, rules


@settings(max_examples=300, deadline=None)
@given(month_data())
def test_no_minute_lost_or_counted_twice(data: tuple[list, list, dict]) -> None:  # type: ignore[type-arg]
    visits, plans, rules = data
    result = allocate_month(2026, 10, visits, plans, rules)
    in_month = [v for v in visits if (v.service_date.year, v.service_date.month) == (2026, 10)]
    assert len(result.visits) + len(result.unbillable) == len(in_month)
    used: dict[int, int] = defaultdict(int)
    for vb in result.visits:
        # Shares tile the kept period exactly: consecutive, non-empty, nothing left over.
        cursor = vb.kept.start
        for share in vb.shares:
            assert share.kept.start == cursor and share.minutes > 0
            cursor = share.kept.end
            if share.category is Category.WITHIN:
                assert share.plan is not None
                used[share.plan.plan_id] += share.minutes
            if share.plan is not None:
                assert share.plan.in_force(vb.visit.service_date)
                assert share.plan.beneficiary_id == vb.visit.beneficiary_id
            else:
                assert share.category is Category.OUTSIDE
        assert cursor == vb.kept.end
        assert sum(s.minutes for s in vb.shares) == vb.kept.minutes
    for p in plans:
        assert used[p.plan_id] <= p.max_minutes
    assert sum(ln.kept_minutes for ln in result.lines) == sum(
        vb.kept.minutes for vb in result.visits
    )
    assert sum(result.minutes_by_funder().values()) == sum(vb.kept.minutes for vb in result.visits)


# --- the one rule of a visit's minutes ------------------------------------------


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    seconds=st.integers(0, 12 * 3600),
)
def test_recorded_minutes_drop_seconds_at_both_ends(start: datetime, seconds: int) -> None:
    begin = start.replace(tzinfo=UTC)
    end = begin + timedelta(seconds=seconds)
    minutes = recorded_minutes(begin, end)
    floor_start = begin.replace(second=0, microsecond=0)
    floor_end = end.replace(second=0, microsecond=0)
    assert minutes * 60 == (floor_end - floor_start).total_seconds()
    assert abs(minutes * 60 - seconds) < 60


def test_recorded_minutes_across_daylight_saving_are_true_minutes() -> None:
    # 01:30 to 03:30 Paris on 29 March 2026 is one hour; on 25 October, three.
    spring = recorded_minutes(
        paris_to_utc(datetime(2026, 3, 29, 1, 30)), paris_to_utc(datetime(2026, 3, 29, 3, 30))
    )
    autumn = recorded_minutes(
        paris_to_utc(datetime(2026, 10, 25, 1, 30)),
        paris_to_utc(datetime(2026, 10, 25, 3, 30), fold=1),
    )
    assert (spring, autumn) == (60, 180)


def test_what_counts() -> None:
    t = datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert counts("complete", t, t + timedelta(hours=1))
    assert counts("corrected", t, t)
    assert not counts("deleted", t, t + timedelta(hours=1))
    assert not counts("incomplete", t, None)
    assert not counts("complete", t + timedelta(hours=1), t)


@pytest.mark.parametrize(
    ("minutes", "text"), [(0, "0 h 00"), (65, "1 h 05"), (1265563, "21092 h 43"), (-30, "-0 h 30")]
)
def test_format_hours(minutes: int, text: str) -> None:
    assert format_hours(minutes) == text
