"""Statistics: hours by antenna, funder and month; hours per beneficiary and funder; rates.

Every hour comes from the ledger's rules of money (``ledger.facts.month_billing``):
the minutes kept by the funder's rounding and shared between plans by decision
0501, so a statistic and the pre-billing of the same month agree to the minute.
Call rates are counted in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Float, case, cast, extract, func, or_, select
from sqlalchemy.orm import Session

from extranet.scope import Viewer, antenna_ids, scope
from kernel.settings import money
from ledger.facts import month_billing
from ledger.models import Antenna, Beneficiary, Funder, Visit, VisitStatus
from ledger.money import Category, MonthBilling
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


def _period(first: date, last: date) -> list[ColumnElement[bool]]:
    return [Visit.service_date >= first, Visit.service_date <= last]


def _billings(
    session: Session, user: Viewer, first: date, last: date
) -> Iterator[tuple[Month, MonthBilling]]:
    """Each month of the period allocated by the ledger's rules of money, in the user's scope."""
    rules = money().rules
    for year, month in _months(first, last):
        period = Month(year, month)
        _facts, billing = month_billing(session, period, rules, antenna_ids(user))
        yield period, billing


def _in_period(day: date, first: date, last: date) -> bool:
    return first <= day <= last


def hours_by_antenna(session: Session, user: Viewer, first: date, last: date) -> Table:
    """Hours kept by antenna and month: ``ledger.money``'s minutes, as billed."""
    names = dict(session.execute(select(Antenna.id, Antenna.name)).all())
    rows: dict[str, dict[tuple[int, int], float]] = {}
    for period, billing in _billings(session, user, first, last):
        for vb in billing.visits:
            if not _in_period(vb.visit.service_date, first, last):
                continue
            cells = rows.setdefault(names.get(vb.visit.antenna_id, "?"), {})
            key = (period.year, period.month)
            cells[key] = cells.get(key, 0) + vb.kept.minutes
    return Table(_months(first, last), dict(sorted(rows.items())))


def hours_by_funder(session: Session, user: Viewer, first: date, last: date) -> Table:
    """Hours kept by funder and month, shared between plans by decision 0501 (``ledger.money``)."""
    names = dict(session.execute(select(Funder.code, Funder.name)).all())
    rows: dict[str, dict[tuple[int, int], float]] = {}
    for period, billing in _billings(session, user, first, last):
        for vb in billing.visits:
            if not _in_period(vb.visit.service_date, first, last):
                continue
            for share in vb.shares:
                label = names.get(share.plan.funder_code, "?") if share.plan else OUTSIDE_LABEL
                if share.plan is not None and share.category is Category.BEYOND:
                    label = f"{label} (au-delà du plan)"
                cells = rows.setdefault(label, {})
                key = (period.year, period.month)
                cells[key] = cells.get(key, 0) + share.minutes
    return Table(_months(first, last), dict(sorted(rows.items())))


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
    """Share (%) of visits not called in at both ends, by antenna and month."""
    year, month = extract("year", Visit.service_date), extract("month", Visit.service_date)
    not_clocked = case(
        (or_(Visit.arrival_event_id.is_(None), Visit.departure_event_id.is_(None)), 1.0),
        else_=0.0,
    )
    query = (
        select(
            Antenna.name,
            year,
            month,
            100.0 * func.sum(not_clocked) / cast(func.count(Visit.id), Float),
        )
        .join(Antenna, Antenna.id == Visit.antenna_id)
        .where(*_period(first, last), Visit.status != VisitStatus.DELETED)
        .group_by(Antenna.name, year, month)
    )
    return _table(list(session.execute(scope(query, user, Visit))), first, last)
