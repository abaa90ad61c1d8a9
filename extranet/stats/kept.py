"""The figures the ledger keeps for closed months (``ledger.figures``), aggregated in SQL.

A year of all antennas is 3.3 million visits at ten million: allocating each
month in Python at every request takes minutes. A closed month's allocation is
kept by the ledger at the close (the same ``ledger.money`` rule, the same
rounding rules, dropped at a reopen); the states read it here, grouped by the
database, and compute only the months not closed live (``loaders.billed``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, Subquery, case, func, select, tuple_
from sqlalchemy.orm import Session

from extranet.stats.loaders import Context
from kernel.settings import money
from ledger.figures import kept_months, period_of
from ledger.models import MonthVisitFigure as F
from ledger.timeutil import Month


def split_months(ctx: Context) -> tuple[list[Month], set[Month]]:
    """The period's months in order, and those of them whose figures the ledger keeps.

    One beneficiary's or worker's figures are computed live (a small month).
    """
    f = ctx.filters
    months = list(f.period.months)
    if f.beneficiary_id is not None or f.worker_id is not None:
        return months, set()
    return months, kept_months(ctx.session, months, money().rules)


def _kept_where(ctx: Context, months: Collection[Month]) -> list[ColumnElement[bool]]:
    """The kept rows of these months in the page's antennas and period."""
    f = ctx.filters
    where = [
        F.period.in_(sorted(period_of(m) for m in months)),
        F.service_date >= f.period.first,
        F.service_date <= f.period.last,
    ]
    if ctx.antennas is not None:
        where.append(F.antenna_id.in_(sorted(ctx.antennas)))
    return where


def _visits(ctx: Context, months: Collection[Month]) -> Subquery:
    """One row per counted visit of these kept months in the page's antennas and period:
    period, position, antenna, beneficiary, worker and its minutes (of the funder filtered)."""
    f = ctx.filters
    where = _kept_where(ctx, months)
    visit = (F.period, F.position, F.antenna_id, F.beneficiary_id, F.worker_id)
    if not f.funder_code:
        return (
            select(*visit, F.kept_minutes.label("minutes")).where(*where, F.share == 0).subquery()
        )
    return (
        select(*visit, func.sum(F.minutes).label("minutes"))
        .where(*where, F.funder_code == f.funder_code)
        .group_by(*visit)
        .subquery()
    )


@dataclass
class Group:
    """The counted visits of one kept month in one antenna."""

    visits: int = 0
    minutes: int = 0
    pairs: set[tuple[int, int]] = field(default_factory=set)
    #: (minutes, position) of the longest and shortest visit (the first of equals).
    longest: tuple[int, int] | None = None
    shortest: tuple[int, int] | None = None
    longest_id: int = 0
    shortest_id: int = 0


def activity_groups(ctx: Context, months: Collection[Month]) -> dict[tuple[int, int], Group]:
    """(period, antenna) -> its visits, minutes, beneficiary × worker pairs and extreme visits."""
    if not months:
        return {}
    s: Session = ctx.session
    visits = _visits(ctx, months)
    groups: dict[tuple[int, int], Group] = defaultdict(Group)
    by_length = select(
        visits.c.period,
        visits.c.antenna_id,
        visits.c.minutes,
        func.count(),
        func.min(visits.c.position),
    ).group_by(visits.c.period, visits.c.antenna_id, visits.c.minutes)
    for period, antenna, found, count, position in s.execute(by_length):
        minutes = int(found)
        group = groups[(period, antenna)]
        group.visits += count
        group.minutes += minutes * count
        if group.longest is None or (minutes, -position) > (group.longest[0], -group.longest[1]):
            group.longest = (minutes, position)
        if group.shortest is None or (minutes, position) < group.shortest:
            group.shortest = (minutes, position)
    pairs = select(
        visits.c.period, visits.c.antenna_id, visits.c.beneficiary_id, visits.c.worker_id
    ).distinct()
    for period, antenna, ben, worker in s.execute(pairs):
        groups[(period, antenna)].pairs.add((ben, worker))
    wanted = {
        (period, extreme[1])
        for (period, _a), g in groups.items()
        for extreme in (g.longest, g.shortest)
        if extreme is not None
    }
    ids = _visit_ids(s, wanted)
    for (period, _a), group in groups.items():
        if group.longest is not None:
            group.longest_id = ids[(period, group.longest[1])]
        if group.shortest is not None:
            group.shortest_id = ids[(period, group.shortest[1])]
    return dict(groups)


def _visit_ids(s: Session, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    found: dict[tuple[int, int], int] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 400):
        chunk = ordered[start : start + 400]
        for period, position, visit_id in s.execute(
            select(F.period, F.position, F.visit_id).where(
                tuple_(F.period, F.position).in_(chunk), F.share == 0
            )
        ):
            found[(period, position)] = visit_id
    return found


def in_order(groups: dict[tuple[int, int], Group], month: Month) -> Iterator[tuple[int, Group]]:
    """A kept month's groups by antenna."""
    period = period_of(month)
    for (p, antenna), group in sorted(groups.items()):
        if p == period:
            yield antenna, group


def worker_totals(
    ctx: Context, months: Collection[Month]
) -> tuple[dict[int, tuple[int, int]], set[tuple[int, int]]]:
    """Per worker, their counted visits and minutes in these kept months; the
    (worker, beneficiary) pairs served."""
    if not months:
        return {}, set()
    visits = _visits(ctx, months)
    # int(): on PostgreSQL a sum of sums is numeric.
    totals = {
        worker: (int(count), int(minutes))
        for worker, count, minutes in ctx.session.execute(
            select(visits.c.worker_id, func.count(), func.sum(visits.c.minutes)).group_by(
                visits.c.worker_id
            )
        )
    }
    served = {
        (worker, ben)
        for worker, ben in ctx.session.execute(
            select(visits.c.worker_id, visits.c.beneficiary_id).distinct()
        )
    }
    return totals, served


def _shares_where(ctx: Context, months: Collection[Month]) -> list[ColumnElement[bool]]:
    """The kept shares of these months in the page's antennas, period and funder filter."""
    f = ctx.filters
    where = [*_kept_where(ctx, months), F.category.is_not(None)]
    if f.funder_code:
        where.append(F.funder_code == f.funder_code)
    return where


def beneficiary_shares(
    ctx: Context, months: Collection[Month]
) -> dict[tuple[int, str, str], tuple[int, int]]:
    """Per beneficiary, funder code ("" outside any plan) and category of share: the
    shares and their minutes in these kept months (of the funder filtered)."""
    if not months:
        return {}
    query = (
        select(F.beneficiary_id, F.funder_code, F.category, func.count(), func.sum(F.minutes))
        .where(*_shares_where(ctx, months))
        .group_by(F.beneficiary_id, F.funder_code, F.category)
    )
    return {
        (ben, code, str(category)): (int(count), int(minutes))
        for ben, code, category, count, minutes in ctx.session.execute(query)
    }


def funder_minutes(ctx: Context, months: Collection[Month]) -> dict[str, int]:
    """Per funder code, the minutes of the shares in a plan in these kept months."""
    if not months:
        return {}
    query = (
        select(F.funder_code, func.sum(F.minutes))
        .where(*_shares_where(ctx, months), F.plan_id.is_not(None))
        .group_by(F.funder_code)
    )
    return {code: int(minutes) for code, minutes in ctx.session.execute(query)}


def aid_minutes(
    ctx: Context, months: Collection[Month]
) -> tuple[dict[tuple[int, str | None], int], set[tuple[str | None, int]]]:
    """Per month (``period``) and funder kind (None outside any plan), the minutes of the
    shares in these kept months; the (funder kind, beneficiary) pairs served."""
    if not months:
        return {}, set()
    kind = case((F.plan_id.is_(None), None), else_=F.funder_kind).label("kind")
    where = _shares_where(ctx, months)
    minutes = {
        (period, found): int(total)
        for period, found, total in ctx.session.execute(
            select(F.period, kind, func.sum(F.minutes)).where(*where).group_by(F.period, kind)
        )
    }
    served = {
        (found, ben)
        for found, ben in ctx.session.execute(
            select(kind, F.beneficiary_id).where(*where).distinct()
        )
    }
    return minutes, served


def plan_minutes(ctx: Context, months: Collection[Month]) -> dict[tuple[int, int, str], int]:
    """Per month (``period``), plan and category, the minutes of the shares in a plan in
    these kept months (of the funder filtered)."""
    if not months:
        return {}
    query = (
        select(F.period, F.plan_id, F.category, func.sum(F.minutes))
        .where(*_shares_where(ctx, months), F.plan_id.is_not(None))
        .group_by(F.period, F.plan_id, F.category)
    )
    return {
        (period, int(plan or 0), str(category)): int(minutes)
        for period, plan, category, minutes in ctx.session.execute(query)
    }


def visit_shares(
    ctx: Context, months: Collection[Month], until: date | None = None
) -> dict[int, tuple[int, list[tuple[str | None, int]]]]:
    """Visit id -> its kept minutes (of the funder filtered) and its shares in order, as
    (funder code, None outside any plan; minutes), for the counted visits of these kept
    months in the page's antennas and period, up to ``until`` when given. With a funder
    filter, only the visits with a share of that funder, and only those shares."""
    if not months:
        return {}
    f = ctx.filters
    where = _kept_where(ctx, months)
    if until is not None:
        where.append(F.service_date <= until)
    if f.funder_code:
        where.append(F.funder_code == f.funder_code)
    query = select(
        F.visit_id, F.kept_minutes, F.plan_id, F.funder_code, F.category, F.minutes
    ).where(*where)
    found: dict[int, tuple[int, list[tuple[str | None, int]]]] = {}
    # In the allocation's order, so a visit's shares come in their own order.
    # Through the connection (Core): a year of an antenna is 600,000 rows.
    for visit_id, kept, plan_id, code, category, minutes in ctx.session.connection().execute(
        query.order_by(F.period, F.position, F.share)
    ):
        entry = found.get(visit_id)
        if entry is None:
            entry = found[visit_id] = (0 if f.funder_code else kept, [])
        if category is None:  # a counted visit without share
            continue
        entry[1].append((None if plan_id is None else code, minutes))
        if f.funder_code:
            found[visit_id] = (entry[0] + minutes, entry[1])
    return found


def kept_total(ctx: Context, months: Collection[Month]) -> int:
    """The kept minutes of the counted visits of these kept months in the page's antennas
    and period (no funder filter)."""
    if not months:
        return 0
    query = select(func.sum(F.kept_minutes)).where(*_kept_where(ctx, months), F.share == 0)
    return int(ctx.session.scalar(query) or 0)
