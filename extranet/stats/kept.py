"""The figures the ledger keeps for closed months (``ledger.figures``), aggregated in SQL.

A year of all antennas is 3.3 million visits at ten million: allocating each
month in Python at every request takes minutes. A closed month's allocation is
kept by the ledger at the close (the same ``ledger.money`` rule, the same
rounding rules, dropped at a reopen), and summed per beneficiary × worker and
per plan (``month_pair_figures``, ``month_share_figures``); the states read
those sums here, grouped by the database, and compute only the months not
closed live (``loaders.billed``). A closed month the period cuts (dates) is
summed from its visit rows of the period's days by the same select.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Subquery,
    case,
    cast,
    func,
    select,
    union_all,
)

from extranet.stats.loaders import Context
from kernel.settings import money
from ledger.figures import kept_months, pair_totals, period_of, share_totals
from ledger.models import MonthPairFigure as P
from ledger.models import MonthShareFigure as S
from ledger.models import MonthVisitFigure as F
from ledger.timeutil import Month

#: ``ledger.figures.pair_totals`` or ``share_totals``: summed rows of visit rows.
Totals = Callable[[Iterable[ColumnElement[bool]]], Select[Any]]


#: Rows a long read fetches at a time.
YIELD_ROWS = 10_000


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


def _rows(ctx: Context, query: Select[Any]) -> Iterable[Any]:
    """Rows through the connection (Core): a year of all antennas is 200,000 sums, and the
    ORM's row processing took a third of a state's time."""
    return ctx.session.connection().execute(query)


def _parts(
    ctx: Context, months: Collection[Month], table: type[P] | type[S], totals: Totals
) -> list[Select[Any]]:
    """The summed rows of these kept months in the page's antennas: read from ``table``
    for a month the period covers, summed by ``totals`` from the visit rows of the
    period's days for a month it cuts (the same select the close stored)."""
    f = ctx.filters
    covered = [m for m in months if f.period.first <= m.first_day and m.last_day <= f.period.last]
    cut = [m for m in months if m not in covered]
    parts: list[Select[Any]] = []
    if covered:
        where = [table.period.in_(sorted(period_of(m) for m in covered))]
        if ctx.antennas is not None:
            where.append(table.antenna_id.in_(sorted(ctx.antennas)))
        # The table's columns in the order of the select that fills it (for UNION ALL).
        names = [c.name for c in totals([]).selected_columns]
        parts.append(select(*(table.__table__.c[name] for name in names)).where(*where))
    if cut:
        parts.append(totals(_kept_where(ctx, cut)))
    return parts


def _pairs(ctx: Context, months: Collection[Month]) -> Subquery | None:
    """Per kept month, antenna, beneficiary and worker: the counted visits (those with a
    share of the funder filtered), their minutes (of that funder) and the extreme visits."""
    parts = _parts(ctx, months, P, pair_totals)
    if not parts:
        return None
    rows = union_all(*parts).subquery()
    return select(rows).where(rows.c.funder_code == (ctx.filters.funder_code or "")).subquery()


def _shares(ctx: Context, months: Collection[Month]) -> Subquery | None:
    """Per kept month, antenna, beneficiary, plan and category: the shares (of the funder
    filtered) and their minutes."""
    parts = _parts(ctx, months, S, share_totals)
    if not parts:
        return None
    rows = union_all(*parts).subquery()
    if not ctx.filters.funder_code:
        return rows
    return select(rows).where(rows.c.funder_code == ctx.filters.funder_code).subquery()


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
    pairs = _pairs(ctx, months)
    if pairs is None:
        return {}
    c = pairs.c
    groups: dict[tuple[int, int], Group] = defaultdict(Group)
    query = select(
        c.period,
        c.antenna_id,
        c.beneficiary_id,
        c.worker_id,
        c.visits,
        c.minutes,
        c.longest_minutes,
        c.longest_position,
        c.longest_visit_id,
        c.shortest_minutes,
        c.shortest_position,
        c.shortest_visit_id,
    )
    for period, antenna, ben, worker, visits, minutes, *extremes in _rows(ctx, query):
        long_min, long_pos, long_id, short_min, short_pos, short_id = map(int, extremes)
        group = groups[(period, antenna)]
        group.visits += visits
        group.minutes += int(minutes)
        group.pairs.add((ben, worker))
        # Of equals, the first in the month's allocation, as computed live.
        if group.longest is None or (long_min, -long_pos) > (group.longest[0], -group.longest[1]):
            group.longest, group.longest_id = (long_min, long_pos), long_id
        if group.shortest is None or (short_min, short_pos) < group.shortest:
            group.shortest, group.shortest_id = (short_min, short_pos), short_id
    return dict(groups)


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
    pairs = _pairs(ctx, months)
    if pairs is None:
        return {}, set()
    c = pairs.c
    totals: dict[int, tuple[int, int]] = {}
    served: set[tuple[int, int]] = set()
    # int(): on PostgreSQL a sum of sums is numeric.
    for worker, ben, count, minutes in _rows(
        ctx,
        select(c.worker_id, c.beneficiary_id, func.sum(c.visits), func.sum(c.minutes)).group_by(
            c.worker_id, c.beneficiary_id
        ),
    ):
        before = totals.get(worker, (0, 0))
        totals[worker] = (before[0] + int(count), before[1] + int(minutes))
        served.add((worker, ben))
    return totals, served


def beneficiary_shares(
    ctx: Context, months: Collection[Month]
) -> dict[tuple[int, str, str], tuple[int, int]]:
    """Per beneficiary, funder code ("" outside any plan) and category of share: the
    shares and their minutes in these kept months (of the funder filtered)."""
    shares = _shares(ctx, months)
    if shares is None:
        return {}
    c = shares.c
    query = select(
        c.beneficiary_id, c.funder_code, c.category, func.sum(c.shares), func.sum(c.minutes)
    ).group_by(c.beneficiary_id, c.funder_code, c.category)
    return {
        (ben, code, str(category)): (int(count), int(minutes))
        for ben, code, category, count, minutes in _rows(ctx, query)
    }


def funder_minutes(ctx: Context, months: Collection[Month]) -> dict[str, int]:
    """Per funder code, the minutes of the shares in a plan in these kept months."""
    shares = _shares(ctx, months)
    if shares is None:
        return {}
    c = shares.c
    query = (
        select(c.funder_code, func.sum(c.minutes))
        .where(c.plan_id.is_not(None))
        .group_by(c.funder_code)
    )
    return {code: int(minutes) for code, minutes in _rows(ctx, query)}


def aid_minutes(
    ctx: Context, months: Collection[Month]
) -> tuple[dict[tuple[int, str | None], int], set[tuple[str | None, int]]]:
    """Per month (``period``) and funder kind (None outside any plan), the minutes of the
    shares in these kept months; the (funder kind, beneficiary) pairs served."""
    shares = _shares(ctx, months)
    if shares is None:
        return {}, set()
    c = shares.c
    kind = case((c.plan_id.is_(None), None), else_=c.funder_kind).label("kind")
    minutes: dict[tuple[int, str | None], int] = defaultdict(int)
    served: set[tuple[str | None, int]] = set()
    for period, found, ben, total in _rows(
        ctx,
        select(c.period, kind, c.beneficiary_id, func.sum(c.minutes)).group_by(
            c.period, kind, c.beneficiary_id
        ),
    ):
        minutes[(period, found)] += int(total)
        served.add((found, ben))
    return dict(minutes), served


def plan_minutes(ctx: Context, months: Collection[Month]) -> dict[int, list[tuple[int, str, int]]]:
    """Per month (``period``): each plan and category with the minutes of its shares in
    these kept months (of the funder filtered)."""
    shares = _shares(ctx, months)
    if shares is None:
        return {}
    c = shares.c
    query = (
        select(c.period, c.plan_id, c.category, func.sum(c.minutes))
        .where(c.plan_id.is_not(None))
        .group_by(c.period, c.plan_id, c.category)
    )
    found: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for period, plan, category, minutes in _rows(ctx, query):
        found[period].append((plan, category, int(minutes)))
    return found


#: Between a visit's shares in ``visit_shares``' text (no funder code holds it).
SHARE_SEP = "\x1e"


def _share_text() -> ColumnElement[str]:
    """A kept share as ``share:minutes:`` then ``+`` and its funder's code in a plan,
    ``-`` and it outside any plan (``split_shares``)."""
    return (
        cast(F.share, String)
        + ":"
        + cast(F.minutes, String)
        + ":"
        + case((F.plan_id.is_(None), "-"), else_="+")
        + F.funder_code
    )


def visit_shares(
    ctx: Context, months: Collection[Month], until: date | None = None
) -> tuple[Subquery | None, dict[int, str]]:
    """The counted visits of these kept months in the page's antennas and period (up to
    ``until`` when given): a subquery of their first kept row (``visit_id``; ``kept``, the
    visit's kept minutes; ``shares``, its first share's text, empty for a visit without
    share), to join to the visits' read, and visit id -> the text of its other shares
    (a few: most visits have one share), each after ``SHARE_SEP``. ``split_shares`` reads
    the whole text (the first's and the others'), ``of_funder`` a funder's part of it.

    Joined to the visits' read by the database (hash join): a year of an antenna is
    600,000 share rows; read and gathered in a dict of lists, they took a third of the
    year's export, and grouped by the database they took it three seconds more."""
    if not months:
        return None, {}
    where = _kept_where(ctx, months)
    if until is not None:
        where.append(F.service_date <= until)
    # A counted visit without share has one row without category: its kept minutes only.
    first = (
        select(
            F.visit_id.label("visit_id"),
            F.kept_minutes.label("kept"),
            case((F.category.is_(None), ""), else_=_share_text()).label("shares"),
        )
        .where(*where, F.share == 0)
        .subquery("kept_shares")
    )
    more: dict[int, str] = defaultdict(str)
    query = select(F.visit_id, _share_text()).where(*where, F.share > 0)
    for visit_id, text in ctx.session.connection().execute(query):
        more[visit_id] += SHARE_SEP + text
    return first, dict(more)


def split_shares(text: str) -> list[tuple[str | None, int]]:
    """``visit_shares``' text of a visit: its shares in order, (funder code, None outside
    any plan; minutes)."""
    if not text:
        return []
    found = []
    for part in text.split(SHARE_SEP):
        share, minutes, code = part.split(":", 2)
        found.append((int(share), code[1:] if code[0] == "+" else None, int(minutes)))
    found.sort()
    return [(code, minutes) for _share, code, minutes in found]


def of_funder(text: str, funder_code: str) -> tuple[int, str] | None:
    """A funder's part of ``visit_shares``' text of a visit: the minutes of its shares and
    their text; None without any."""
    parts = [p for p in text.split(SHARE_SEP) if p and p.split(":", 2)[2][1:] == funder_code]
    if not parts:
        return None
    return sum(int(p.split(":", 2)[1]) for p in parts), SHARE_SEP.join(parts)


def kept_total(ctx: Context, months: Collection[Month]) -> int:
    """The kept minutes of the counted visits of these kept months in the page's antennas
    and period (no funder filter)."""
    if not months:
        return 0
    query = select(func.sum(F.kept_minutes)).where(*_kept_where(ctx, months), F.share == 0)
    return int(ctx.session.scalar(query) or 0)
