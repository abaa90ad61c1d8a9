"""The month's allocation as written for scale equals the rules written plainly.

``allocate_month`` sorts each beneficiary's plans once, turns times to UTC once
and counts minutes as integers. ``reference_allocation`` below is the rules of
``ledger.money``'s docstring written one visit at a time with its public
helpers (``candidate_plans``, ``kept_period``, ``counts``): the allocation of
the product before it was made fast, kept here as the oracle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.money import (
    DEFAULT_ROUNDING,
    Category,
    Line,
    LineKey,
    MonthBilling,
    Period,
    PlanFact,
    Rounding,
    Share,
    VisitBilling,
    VisitFact,
    allocate_month,
    candidate_plans,
    counts,
    kept_period,
)
from ledger.timeutil import PARIS
from tests.ledger.test_money import month_data

_MINUTE = timedelta(minutes=1)


def _shares(kept: Period, candidates: list[PlanFact], used: dict[int, int]) -> tuple[Share, ...]:
    step = _MINUTE
    remaining, cursor, shares = kept.minutes, kept.start, []
    for plan in candidates:
        if remaining == 0:
            break
        take = min(remaining, max(0, plan.max_minutes - used[plan.plan_id]))
        if take:
            used[plan.plan_id] += take
            end = cursor + take * step
            shares.append(Share(plan, Category.WITHIN, Period(cursor, end)))
            cursor, remaining = end, remaining - take
    if remaining:
        first = candidates[0] if candidates else None
        shares.append(
            Share(first, Category.BEYOND if first else Category.OUTSIDE, Period(cursor, kept.end))
        )
    return tuple(shares)


def reference_allocation(
    year: int,
    month: int,
    visits: list[VisitFact],
    plans: list[PlanFact],
    rules: Mapping[str, Rounding],
) -> MonthBilling:
    by_ben: dict[int, list[PlanFact]] = defaultdict(list)
    for plan in plans:
        by_ben[plan.beneficiary_id].append(plan)
    in_month = [v for v in visits if (v.service_date.year, v.service_date.month) == (year, month)]
    billable = [
        v for v in in_month if v.recorded is not None and counts(v.status, v.started_at, v.ended_at)
    ]
    unbillable = [v for v in in_month if v not in billable]
    billable.sort(key=lambda v: (v.beneficiary_id, v.recorded.start, v.visit_id))  # type: ignore[union-attr]
    used: dict[int, int] = defaultdict(int)
    results, lines = [], {}
    for visit in billable:
        recorded = visit.recorded
        assert recorded is not None
        candidates = candidate_plans(visit, by_ben[visit.beneficiary_id])
        rounding = (
            rules.get(candidates[0].funder_code, DEFAULT_ROUNDING)
            if candidates
            else (DEFAULT_ROUNDING)
        )
        kept = kept_period(recorded, rounding)
        shares = _shares(kept, candidates, used)
        results.append(VisitBilling(visit, recorded, kept, rounding, shares))
        for share in shares:
            key = LineKey(
                visit.beneficiary_id,
                share.plan.funder_code if share.plan else "",
                share.plan.plan_id if share.plan else None,
                share.plan.service_code if share.plan else (visit.service_code or ""),
                visit.worker_id,
                share.category,
            )
            line = lines.setdefault(key, Line(key))
            line.visits += 1
            line.kept_minutes += share.minutes
    ordered = sorted(
        lines.values(),
        key=lambda ln: (
            ln.key.beneficiary_id,
            ln.key.funder_code,
            ln.key.plan_id or 0,
            ln.key.category.value,
            ln.key.worker_id,
        ),
    )
    return MonthBilling(year, month, tuple(results), tuple(unbillable), tuple(ordered))


@st.composite
def varied_month(draw: st.DrawFn) -> tuple[list, list, dict]:  # type: ignore[type-arg]
    """``month_data`` with some visits deleted, incomplete, ending before they start,
    or with times read in another zone (Paris) or without one (SQLite's naive UTC)."""
    visits, plans, rules = draw(month_data())
    changed = []
    for v in visits:
        what = draw(
            st.sampled_from(["same", "same", "deleted", "no end", "reversed", "paris", "naive"])
        )
        if what == "paris" and v.started_at and v.ended_at:
            v = replace(v, started_at=v.started_at.astimezone(PARIS))
        elif what == "naive" and v.started_at and v.ended_at:
            v = replace(v, ended_at=v.ended_at.replace(tzinfo=None))
        elif what == "deleted":
            v = replace(v, status="deleted")
        elif what == "no end":
            v = replace(v, ended_at=None, status="incomplete")
        elif what == "reversed" and v.started_at and v.ended_at and v.ended_at > v.started_at:
            v = replace(v, started_at=v.ended_at, ended_at=v.started_at)
        changed.append(v)
    return changed, plans, rules


@settings(max_examples=400, deadline=None)
@given(varied_month())
def test_the_fast_allocation_is_the_rule(data: tuple[list, list, dict]) -> None:  # type: ignore[type-arg]
    visits, plans, rules = data
    fast = allocate_month(2026, 10, visits, plans, rules)
    plain = reference_allocation(2026, 10, visits, plans, rules)
    assert fast.visits == plain.visits
    assert fast.unbillable == plain.unbillable
    assert [(ln.key, ln.visits, ln.kept_minutes) for ln in fast.lines] == [
        (ln.key, ln.visits, ln.kept_minutes) for ln in plain.lines
    ]
    assert fast.minutes_by_funder() == plain.minutes_by_funder()
