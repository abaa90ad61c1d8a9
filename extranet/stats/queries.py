"""Statistics: hours by antenna, funder and month; hours per beneficiary and funder; rates.

Every hour comes from the ledger's rules of money (``ledger.facts.month_billing``):
the minutes kept by the funder's rounding and shared between plans by decision
0501, so a statistic and the pre-billing of the same month agree to the minute
(a closed month from the sums the ledger kept of that allocation, ``ledger.figures``).
Call rates are counted in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, extract, func, or_, select
from sqlalchemy.orm import Session

from extranet.scope import Viewer, antenna_ids, scope
from kernel.settings import money
from ledger import call_figures
from ledger.facts import month_billing
from ledger.figures import kept_months, period_of
from ledger.models import (
    Antenna,
    Beneficiary,
    Funder,
    MonthPairFigure,
    MonthShareFigure,
    MonthVisitCount,
    Visit,
)
from ledger.money import Category
from ledger.timeutil import Month

#: How the pages name minutes that fall under no care plan.
OUTSIDE_LABEL = "Sans plan d'aide"


@dataclass(frozen=True)
class Table:
    """Rows by label, columns by (year, month); hours tables hold minutes, rates percents."""

    months: list[tuple[int, int]]
    rows: dict[str, dict[tuple[int, int], float]]

    def total(self, label: str) -> float:
        return sum(self.rows[label].values())


def _months(first: date, last: date) -> list[tuple[int, int]]:
    return [(m.year, m.month) for m in Month.span(first, last)]


def _table(rows: list, first: date, last: date) -> Table:  # type: ignore[type-arg]
    table: dict[str, dict[tuple[int, int], float]] = {}
    for label, year, month, value in rows:
        table.setdefault(label or "Sans plan d'aide", {})[(int(year), int(month))] = float(
            value or 0
        )
    return Table(_months(first, last), dict(sorted(table.items())))


def _antenna_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Antenna.id, Antenna.name)).all())  # type: ignore[arg-type]


def _funder_label(names: dict[str, str], funder_code: str, outside: bool, category: str) -> str:
    """A share's row in the funders' table: its plan's funder, over the plan, or no plan."""
    if outside:
        return OUTSIDE_LABEL
    label = names.get(funder_code, "?")
    return f"{label} (au-delà du plan)" if category == Category.BEYOND.value else label


def hours_tables(session: Session, user: Viewer, first: date, last: date) -> tuple[Table, Table]:
    """Hours kept by antenna and by funder, per month: ``ledger.money``'s minutes, as billed,
    shared between plans by decision 0501.

    A closed month the period covers is read from the sums the ledger kept at its close
    (``ledger.figures``: the same allocation, summed per beneficiary × worker and per plan);
    the other months are allocated live (``ledger.facts.month_billing``), once for both
    tables. At ten million visits a month of all antennas is about 280,000 visits: the
    statistics page's six months took 80 s of CPU allocated twice each.
    """
    rules = money().rules
    areas = antenna_ids(user)
    antennas = _antenna_names(session)
    funders = dict(session.execute(select(Funder.code, Funder.name)).all())  # type: ignore[arg-type]
    by_antenna: dict[str, dict[tuple[int, int], float]] = {}
    by_funder: dict[str, dict[tuple[int, int], float]] = {}

    def add(
        rows: dict[str, dict[tuple[int, int], float]],
        label: str,
        key: tuple[int, int],
        minutes: int,
    ) -> None:
        cells = rows.setdefault(label, {})
        cells[key] = cells.get(key, 0) + minutes

    months = [Month(year, month) for year, month in _months(first, last)]
    covered = [m for m in months if first <= m.first_day and m.last_day <= last]
    kept = kept_months(session, covered, rules)
    if kept:
        periods = sorted(period_of(m) for m in kept)
        pair_where: list[ColumnElement[bool]] = [
            MonthPairFigure.period.in_(periods),
            MonthPairFigure.funder_code == "",
        ]
        share_where: list[ColumnElement[bool]] = [MonthShareFigure.period.in_(periods)]
        if areas is not None:
            pair_where.append(MonthPairFigure.antenna_id.in_(sorted(areas)))
            share_where.append(MonthShareFigure.antenna_id.in_(sorted(areas)))
        for period, antenna_id, minutes in session.execute(
            select(
                MonthPairFigure.period,
                MonthPairFigure.antenna_id,
                func.sum(MonthPairFigure.minutes),
            )
            .where(*pair_where)
            .group_by(MonthPairFigure.period, MonthPairFigure.antenna_id)
        ):
            key = (period // 100, period % 100)
            add(by_antenna, antennas.get(antenna_id, "?"), key, int(minutes))
        outside = MonthShareFigure.plan_id.is_(None)
        for period, code, is_outside, category, minutes in session.execute(
            select(
                MonthShareFigure.period,
                MonthShareFigure.funder_code,
                outside,
                MonthShareFigure.category,
                func.sum(MonthShareFigure.minutes),
            )
            .where(*share_where)
            .group_by(
                MonthShareFigure.period,
                MonthShareFigure.funder_code,
                outside,
                MonthShareFigure.category,
            )
        ):
            key = (period // 100, period % 100)
            label = _funder_label(funders, code, bool(is_outside), category)
            add(by_funder, label, key, int(minutes))
    for month in months:
        if month in kept:
            continue
        _facts, billing = month_billing(session, month, rules, areas)
        key = (month.year, month.month)
        for vb in billing.visits:
            if not _in_period(vb.visit.service_date, first, last):
                continue
            add(by_antenna, antennas.get(vb.visit.antenna_id, "?"), key, vb.kept.minutes)
            for share in vb.shares:
                plan = share.plan
                label = _funder_label(
                    funders, plan.funder_code if plan else "", plan is None, share.category.value
                )
                add(by_funder, label, key, share.minutes)
    columns = _months(first, last)
    return (
        Table(columns, dict(sorted(by_antenna.items()))),
        Table(columns, dict(sorted(by_funder.items()))),
    )


def _in_period(day: date, first: date, last: date) -> bool:
    return first <= day <= last


@dataclass(frozen=True)
class BeneficiaryFunderLine:
    beneficiary_id: int
    external_id: str
    name: str
    antenna: str
    funder_code: str
    funder_name: str
    category: Category
    visits: int
    minutes: int


def hours_by_beneficiary_and_funder(
    session: Session, user: Viewer, period: Month
) -> list[BeneficiaryFunderLine]:
    """State 1: the month's hours per beneficiary and funder, the pre-billing's own lines."""
    _facts, billing = month_billing(session, period, money().rules, antenna_ids(user))
    totals: dict[tuple[int, str, Category], list[int]] = {}
    for vb in billing.visits:
        for share in vb.shares:
            code = share.plan.funder_code if share.plan else ""
            cell = totals.setdefault((vb.visit.beneficiary_id, code, share.category), [0, 0])
            cell[0] += 1
            cell[1] += share.minutes
    ben_ids = sorted({key[0] for key in totals})
    people: dict[int, tuple[str, str, str]] = {}
    for chunk in range(0, len(ben_ids), 900):
        for bid, ext, last_name, first_name, antenna in session.execute(
            select(
                Beneficiary.id,
                Beneficiary.external_id,
                Beneficiary.last_name,
                Beneficiary.first_name,
                Antenna.name,
            )
            .join(Antenna, Antenna.id == Beneficiary.antenna_id)
            .where(Beneficiary.id.in_(ben_ids[chunk : chunk + 900]))
        ):
            people[bid] = (ext, f"{last_name} {first_name}", antenna)
    funders = dict(session.execute(select(Funder.code, Funder.name)).all())
    lines = [
        BeneficiaryFunderLine(
            beneficiary_id=bid,
            external_id=people[bid][0],
            name=people[bid][1],
            antenna=people[bid][2],
            funder_code=code,
            funder_name=funders.get(code, OUTSIDE_LABEL) if code else OUTSIDE_LABEL,
            category=category,
            visits=count,
            minutes=minutes,
        )
        for (bid, code, category), (count, minutes) in totals.items()
    ]
    return sorted(lines, key=lambda ln: (ln.name, ln.beneficiary_id, ln.funder_code, ln.category))


def incomplete_rates(session: Session, user: Viewer, first: date, last: date) -> Table:
    """Share (%) of visits not called in at both ends, by antenna and month.

    A closed month is read from its visits counted per antenna at the close
    (``ledger.call_figures``), the others counted live by the same rule: six months of
    every antenna at ten million visits were 1.7 s of SQL at each first computation.
    """
    months = Month.span(first, last)
    kept = call_figures.kept_months(session, months)
    counts: dict[tuple[str, int, int], tuple[int, int]] = {}
    if kept:
        k = MonthVisitCount
        read = (
            select(Antenna.name, k.period, k.visits, k.missing_call)
            .join(Antenna, Antenna.id == k.antenna_id)
            .where(k.period.in_(sorted(period_of(m) for m in kept)))
        )
        areas = antenna_ids(user)
        if areas is not None:
            read = read.where(k.antenna_id.in_(sorted(areas)))
        for name, period, visits, missing in session.execute(read):
            counts[(name, period // 100, period % 100)] = (visits, missing)
    live = [m for m in months if m not in kept]
    if live:
        counts.update(_live_visit_counts(session, user, live, first, last))
    rows = [
        (name, year, month, 100.0 * missing / visits)
        for (name, year, month), (visits, missing) in counts.items()
        if visits
    ]
    return _table(rows, first, last)


def _live_visit_counts(
    session: Session, user: Viewer, months: list[Month], first: date, last: date
) -> dict[tuple[str, int, int], tuple[int, int]]:
    """Visits and those with a call missing, by antenna and month, counted now."""
    year, month = extract("year", Visit.service_date), extract("month", Visit.service_date)
    visits, missing = call_figures.visit_totals()
    days = [
        and_(Visit.service_date >= a, Visit.service_date <= b)
        for a, b in Month.day_ranges(months, first, last)
    ]
    query = (
        select(Antenna.name, year, month, visits, missing)
        .join(Antenna, Antenna.id == Visit.antenna_id)
        .where(or_(*days), call_figures.counted_visits())
        .group_by(Antenna.name, year, month)
    )
    return {
        (name, int(y), int(m)): (int(n), int(missed or 0))
        for name, y, m, n, missed in session.execute(scope(query, user, Visit))
    }
