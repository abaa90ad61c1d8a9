"""A closed month's figures, kept by the ledger: written at the close, dropped at the reopen.

A closed month cannot change without a reopen (``ledger.service`` refuses
every write to it, ``ledger.closures``), so the allocation the close checked
(``ledger.facts.month_billing``, the one rule of ``ledger.money``) is kept in
``month_visit_figures``: one row per share of each counted visit, with the
visit's antenna, beneficiary, worker, date and kept minutes. Readers of many
months (the statistics of a year) read those rows with SQL instead of loading
and allocating each month again; the months not closed are computed live.

The figures are those of the rounding rules of the close (``rules_key``): a
reader whose rules differ computes the month live, so a figure read here is
always the one ``month_billing`` gives with the same rules. Months closed
before this table existed have no figures kept until their next close.

Two summaries of those rows are kept beside them, written from them in the
same transaction by one ``INSERT … SELECT`` each (``pair_totals``,
``share_totals``) and dropped with them: the visits per beneficiary × worker
(``month_pair_figures``) and the shares per beneficiary, plan and category
(``month_share_figures``). A year of all antennas is 3.7 million visit rows
at ten million visits; the summaries are what its statistics read (decision
0323). The same selects aggregate the visit rows of a month a period cuts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, func, insert, literal, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ledger.models import MonthClosure, MonthPairFigure, MonthShareFigure, MonthVisitFigure
from ledger.money import MonthBilling, Rounding
from ledger.timeutil import Month

#: Rows inserted per statement.
BATCH = 5000


def period_of(month: Month) -> int:
    """The ``period`` column of a month: year * 100 + month."""
    return month.year * 100 + month.month


def rules_key(rules: Mapping[str, Rounding] | None) -> str:
    """The rounding rules as one text, to compare the rules of a reader with those kept."""
    return ",".join(
        f"{code}={rule.step}/{rule.mode.value}/{rule.tolerance}"
        for code, rule in sorted((rules or {}).items())
    )


def figure_rows(billing: MonthBilling) -> Iterator[dict[str, Any]]:
    """The rows of a month's allocation: one per share, one for a visit without share."""
    period = billing.year * 100 + billing.month
    for position, vb in enumerate(billing.visits):
        visit = vb.visit
        base = {
            "visit_id": visit.visit_id,
            "period": period,
            "position": position,
            "antenna_id": visit.antenna_id,
            "beneficiary_id": visit.beneficiary_id,
            "worker_id": visit.worker_id,
            "service_date": visit.service_date,
            "kept_minutes": vb.kept.minutes,
        }
        if not vb.shares:
            yield {
                **base,
                "share": 0,
                "plan_id": None,
                "funder_code": "",
                "funder_kind": "",
                "category": None,
                "minutes": 0,
            }
        for index, share in enumerate(vb.shares):
            plan = share.plan
            yield {
                **base,
                "share": index,
                "plan_id": plan.plan_id if plan else None,
                "funder_code": plan.funder_code if plan else "",
                "funder_kind": plan.funder_kind if plan else "",
                "category": share.category.value,
                "minutes": share.minutes,
            }


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _visit_minutes(where: Iterable[ColumnElement[bool]]) -> Select[Any]:
    """One row per counted visit with its whole kept minutes (funder code ""), and one per
    funder of its shares in a plan with that funder's minutes, of the visit rows ``where``."""
    F = MonthVisitFigure
    where = list(where)
    visit = (F.period, F.position, F.visit_id, F.antenna_id, F.beneficiary_id, F.worker_id)
    whole = select(*visit, literal("").label("funder_code"), F.kept_minutes.label("minutes"))
    by_funder = (
        select(*visit, F.funder_code, func.sum(F.minutes).label("minutes"))
        .where(*where, F.plan_id.is_not(None))
        .group_by(*visit, F.funder_code)
    )
    return union_all(whole.where(*where, F.share == 0), by_funder)  # type: ignore[return-value]


def pair_totals(where: Iterable[ColumnElement[bool]]) -> Select[Any]:
    """The rows of ``month_pair_figures`` of the visit rows ``where``: per period, antenna,
    beneficiary, worker and funder code ("" for the whole visits), the visits, their minutes,
    and the longest and shortest visit (of equals, the first in the allocation)."""
    v = _visit_minutes(where).subquery()
    key = (v.c.period, v.c.antenna_id, v.c.beneficiary_id, v.c.worker_id, v.c.funder_code)
    ranked = select(
        *v.c,
        func.row_number()
        .over(partition_by=key, order_by=(v.c.minutes.desc(), v.c.position))
        .label("longest"),
        func.row_number()
        .over(partition_by=key, order_by=(v.c.minutes, v.c.position))
        .label("shortest"),
    ).subquery()
    r = ranked.c

    def extreme(rank: Any, column: Any, name: str) -> Any:
        return func.max(case((rank == 1, column))).label(name)

    return select(
        r.period,
        r.antenna_id,
        r.beneficiary_id,
        r.worker_id,
        r.funder_code,
        func.count().label("visits"),
        func.sum(r.minutes).label("minutes"),
        extreme(r.longest, r.minutes, "longest_minutes"),
        extreme(r.longest, r.position, "longest_position"),
        extreme(r.longest, r.visit_id, "longest_visit_id"),
        extreme(r.shortest, r.minutes, "shortest_minutes"),
        extreme(r.shortest, r.position, "shortest_position"),
        extreme(r.shortest, r.visit_id, "shortest_visit_id"),
    ).group_by(r.period, r.antenna_id, r.beneficiary_id, r.worker_id, r.funder_code)


def share_totals(where: Iterable[ColumnElement[bool]]) -> Select[Any]:
    """The rows of ``month_share_figures`` of the visit rows ``where``: per period, antenna,
    beneficiary, plan (funder code and kind) and category, the shares and their minutes."""
    F = MonthVisitFigure
    key: tuple[Any, ...] = (
        F.period,
        F.antenna_id,
        F.beneficiary_id,
        F.plan_id,
        F.funder_code,
        F.funder_kind,
        F.category,
    )
    return (
        select(*key, func.count().label("shares"), func.sum(F.minutes).label("minutes"))
        .where(*where, F.category.is_not(None))
        .group_by(*key)
    )


def store_totals(session: Session | Connection, month: Month) -> None:
    """Sum the month's visit rows into ``month_pair_figures`` and ``month_share_figures``.

    Also the migration that added them, for the months closed before
    (``ledger/migrations``, 20261207_ledger_figure_totals).
    """
    where = [MonthVisitFigure.period == period_of(month)]
    pairs = (MonthPairFigure, pair_totals(where))
    for table, query in (pairs, (MonthShareFigure, share_totals(where))):
        names = [c.name for c in query.selected_columns]
        session.execute(insert(table).from_select(names, query))


def _drop_rows(session: Session, month: Month) -> None:
    period = period_of(month)
    for table in (MonthVisitFigure, MonthPairFigure, MonthShareFigure):
        session.execute(delete(table).where(table.period == period))


def store(
    session: Session,
    row: MonthClosure,
    billing: MonthBilling,
    rules: Mapping[str, Rounding] | None,
) -> int:
    """Keep the figures of the month of ``row`` (being closed) for its revision; rows written.

    The caller holds the closure row locked and commits with the close.
    """
    month = Month(row.year, row.month)
    _drop_rows(session, month)
    written = 0
    for batch in _batches(figure_rows(billing)):
        session.execute(insert(MonthVisitFigure), batch)
        written += len(batch)
    store_totals(session, month)
    row.figures_revision = row.revision
    row.figures_rules = rules_key(rules)
    session.flush()
    return written


def drop(session: Session, row: MonthClosure) -> None:
    """Forget the figures of the month of ``row`` (being reopened)."""
    _drop_rows(session, Month(row.year, row.month))
    row.figures_revision = None
    row.figures_rules = None
    session.flush()


def kept_months(
    session: Session, months: Collection[Month], rules: Mapping[str, Rounding] | None
) -> set[Month]:
    """Those of ``months`` whose figures are kept: closed, for their current revision, and
    computed with these rules."""
    if not months:
        return set()
    wanted = {(m.year, m.month): m for m in months}
    key = rules_key(rules)
    found = session.execute(
        select(
            MonthClosure.year,
            MonthClosure.month,
            MonthClosure.closed,
            MonthClosure.revision,
            MonthClosure.figures_revision,
            MonthClosure.figures_rules,
        ).where(MonthClosure.year.in_(sorted({m.year for m in months})))
    )
    return {
        wanted[(year, month)]
        for year, month, closed, revision, figures_revision, figures_rules in found
        if (year, month) in wanted
        and closed
        and figures_revision == revision
        and figures_rules == key
    }
