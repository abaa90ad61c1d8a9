"""Statistics for central referents: hours by antenna, funder and month; incomplete-call rates.

Aggregated in the database (a year is about 240,000 visits); only the hours
expression differs between SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, extract, func, or_, select
from sqlalchemy.orm import Session

from extranet.models import User
from extranet.scope import scope
from ledger.models import Antenna, CarePlan, Funder, Visit, VisitStatus

COUNTED = (VisitStatus.COMPLETE, VisitStatus.CORRECTED, VisitStatus.MANUAL)


def _hours(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return extract("epoch", Visit.ended_at - Visit.started_at) / 3600.0
    return (func.julianday(Visit.ended_at) - func.julianday(Visit.started_at)) * 24.0


@dataclass(frozen=True)
class Table:
    """Rows by label, columns by (year, month)."""

    months: list[tuple[int, int]]
    rows: dict[str, dict[tuple[int, int], float]]

    def total(self, label: str) -> float:
        return sum(self.rows[label].values())


def _months(first: date, last: date) -> list[tuple[int, int]]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _table(rows: list, first: date, last: date) -> Table:  # type: ignore[type-arg]
    table: dict[str, dict[tuple[int, int], float]] = {}
    for label, year, month, value in rows:
        table.setdefault(label or "Sans plan d'aide", {})[(int(year), int(month))] = float(
            value or 0
        )
    return Table(_months(first, last), dict(sorted(table.items())))


def _period(first: date, last: date) -> list[ColumnElement[bool]]:
    return [Visit.service_date >= first, Visit.service_date <= last]


def hours_by_antenna(session: Session, user: User, first: date, last: date) -> Table:
    dialect = session.get_bind().dialect.name
    year, month = extract("year", Visit.service_date), extract("month", Visit.service_date)
    query = (
        select(Antenna.name, year, month, func.sum(_hours(dialect)))
        .join(Antenna, Antenna.id == Visit.antenna_id)
        .where(*_period(first, last), Visit.status.in_(COUNTED), Visit.ended_at.is_not(None))
        .group_by(Antenna.name, year, month)
    )
    return _table(list(session.execute(scope(query, user, Visit))), first, last)


def hours_by_funder(session: Session, user: User, first: date, last: date) -> Table:
    """Hours by funder: the beneficiary's first plan in force on their first visit of the month.

    Visits are summed per beneficiary and month first, so that the plan is looked
    up once per beneficiary-month rather than once per visit.
    """
    dialect = session.get_bind().dialect.name
    year, month = extract("year", Visit.service_date), extract("month", Visit.service_date)
    per_beneficiary = scope(
        select(
            Visit.beneficiary_id.label("beneficiary_id"),
            year.label("y"),
            month.label("m"),
            func.min(Visit.service_date).label("anchor"),
            func.sum(_hours(dialect)).label("h"),
        )
        .where(*_period(first, last), Visit.status.in_(COUNTED), Visit.ended_at.is_not(None))
        .group_by(Visit.beneficiary_id, year, month),
        user,
        Visit,
    ).subquery()
    plan_funder = (
        select(CarePlan.funder_id)
        .where(
            CarePlan.beneficiary_id == per_beneficiary.c.beneficiary_id,
            CarePlan.starts_on <= per_beneficiary.c.anchor,
            or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= per_beneficiary.c.anchor),
        )
        .order_by(CarePlan.id)
        .limit(1)
        .correlate(per_beneficiary)
        .scalar_subquery()
    )
    with_funder = select(
        plan_funder.label("funder_id"),
        per_beneficiary.c.y,
        per_beneficiary.c.m,
        per_beneficiary.c.h,
    ).subquery()
    query = (
        select(Funder.name, with_funder.c.y, with_funder.c.m, func.sum(with_funder.c.h))
        .select_from(with_funder)
        .outerjoin(Funder, Funder.id == with_funder.c.funder_id)
        .group_by(Funder.name, with_funder.c.y, with_funder.c.m)
    )
    return _table(list(session.execute(query)), first, last)


def incomplete_rates(session: Session, user: User, first: date, last: date) -> Table:
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
