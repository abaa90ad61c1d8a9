"""A closed month's incomplete calls, counted by the ledger at the close, dropped at the reopen.

The statistics of incomplete calls and of their correction (issue 14, states 3
and 6) count the visits with a call missing by kind, day, antenna, worker and
whether they were corrected. At ten million visits a year of all antennas is
millions of such visits (every visit entered by hand is one), too many to count
at every request. A closed month's visits and versions cannot change without a
reopen (``ledger.service`` refuses every write to it), so the close counts them
once, in its transaction, into ``month_call_figures`` (one row per day, antenna,
worker, kind and corrected or not) and its visits per antenna, with and without
a call missing, into ``month_visit_counts`` (the overview's rate of incomplete
calls, over six months of every antenna), and the reopen deletes them. The rule of
what is incomplete, of its kind and of corrected is here, once: the live count
of the months not closed uses the same expressions.

Every closed month has its counts (the close writes them, the migration that
made the table counted the months closed before it), so "kept" is "closed".
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from ledger.figures import period_of
from ledger.models import (
    MonthCallFigure,
    MonthClosure,
    MonthVisitCount,
    Visit,
    VisitStatus,
    VisitVersion,
)
from ledger.timeutil import Month


def missing_call() -> ColumnElement[bool]:
    """The visit's arrival or departure was not called in."""
    return or_(Visit.arrival_event_id.is_(None), Visit.departure_event_id.is_(None))


def incomplete_kind() -> ColumnElement[str]:
    """The visit's missing call: "aucun" (entered by hand), "arrivee" or "depart"."""
    return case(
        (and_(Visit.arrival_event_id.is_(None), Visit.departure_event_id.is_(None)), "aucun"),
        (Visit.arrival_event_id.is_(None), "arrivee"),
        else_="depart",
    )


def corrected() -> ColumnElement[bool]:
    """Corrected: no longer incomplete (entered by hand, completed, deleted) or a version
    with a motive."""
    fixed = (
        select(VisitVersion.id)
        .where(VisitVersion.visit_id == Visit.id, VisitVersion.motive.is_not(None))
        .exists()
    )
    return or_(Visit.status != VisitStatus.INCOMPLETE, fixed)


def visit_totals() -> tuple[ColumnElement[int], ColumnElement[int]]:
    """Of a group of visits (deleted ones left out by the caller): how many, and how many
    with a call missing, the rate of incomplete calls (kept per antenna by ``store``)."""
    return func.count(), func.sum(case((missing_call(), 1), else_=0))


def counted_visits() -> ColumnElement[bool]:
    """The visits the rate counts: all but the deleted."""
    return Visit.status != VisitStatus.DELETED


def store(session: Session, month: Month) -> None:
    """Count the incomplete visits of ``month`` (being closed), and its visits per antenna;
    the caller holds the closure row locked and commits with the close."""
    drop(session, month)
    visits, missing = visit_totals()
    in_month = (Visit.service_date >= month.first_day, Visit.service_date <= month.last_day)
    per_antenna = (
        select(literal(period_of(month), Integer), Visit.antenna_id, visits, missing)
        .where(*in_month, counted_visits())
        .group_by(Visit.antenna_id)
    )
    c = MonthVisitCount.__table__
    session.execute(
        insert(MonthVisitCount).from_select(
            [c.c.period, c.c.antenna_id, c.c.visits, c.c.missing_call], per_antenna
        )
    )
    kind, fixed = incomplete_kind().label("kind"), corrected().label("corrected")
    counted = (
        select(
            literal(period_of(month), Integer),
            Visit.service_date,
            Visit.antenna_id,
            Visit.worker_id,
            kind,
            fixed,
            func.count(),
        )
        .where(
            Visit.service_date >= month.first_day,
            Visit.service_date <= month.last_day,
            missing_call(),
        )
        .group_by(Visit.service_date, Visit.antenna_id, Visit.worker_id, kind, fixed)
    )
    t = MonthCallFigure.__table__
    session.execute(
        insert(MonthCallFigure).from_select(
            [
                t.c.period,
                t.c.service_date,
                t.c.antenna_id,
                t.c.worker_id,
                t.c.kind,
                t.c.corrected,
                t.c.visits,
            ],
            counted,
        )
    )
    session.flush()


def drop(session: Session, month: Month) -> None:
    """Forget the counts of ``month`` (being reopened)."""
    for table in (MonthCallFigure, MonthVisitCount):
        session.execute(delete(table).where(table.period == period_of(month)))
    session.flush()


def kept_months(session: Session, months: Collection[Month]) -> set[Month]:
    """Those of ``months`` whose incomplete calls are kept: the closed ones."""
    if not months:
        return set()
    wanted = {(m.year, m.month): m for m in months}
    found = session.execute(
        select(MonthClosure.year, MonthClosure.month).where(
            MonthClosure.closed.is_(True),
            MonthClosure.year.in_(sorted({m.year for m in months})),
        )
    )
    return {wanted[(y, m)] for y, m in found if (y, m) in wanted}
