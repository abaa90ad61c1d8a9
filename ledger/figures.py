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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ledger.models import MonthClosure, MonthVisitFigure
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
    session.execute(delete(MonthVisitFigure).where(MonthVisitFigure.period == period_of(month)))
    written = 0
    for batch in _batches(figure_rows(billing)):
        session.execute(insert(MonthVisitFigure), batch)
        written += len(batch)
    row.figures_revision = row.revision
    row.figures_rules = rules_key(rules)
    session.flush()
    return written


def drop(session: Session, row: MonthClosure) -> None:
    """Forget the figures of the month of ``row`` (being reopened)."""
    month = Month(row.year, row.month)
    session.execute(delete(MonthVisitFigure).where(MonthVisitFigure.period == period_of(month)))
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
