"""Plain-data builders for the pure billing tests."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from ledger.money import PlanFact, VisitFact
from ledger.timeutil import paris_date, paris_to_utc

_ids = itertools.count(1)


def plan(
    *,
    ben: int = 1,
    funder: str = "APA75",
    kind: str = "APA",
    departement: bool = True,
    service: str = "APA-AIDE",
    hours: float = 40,
    starts: date = date(2026, 1, 1),
    ends: date | None = None,
    plan_id: int | None = None,
    reference: str | None = None,
) -> PlanFact:
    pid = plan_id or next(_ids)
    return PlanFact(
        plan_id=pid,
        beneficiary_id=ben,
        funder_code=funder,
        funder_kind=kind,
        departement=departement,
        service_code=service,
        reference=f"REF-{funder}-{pid}" if reference is None else reference,
        max_minutes=round(hours * 60),
        starts_on=starts,
        ends_on=ends,
    )


def visit(
    local_start: datetime,
    minutes: float,
    *,
    ben: int = 1,
    worker: int = 7,
    service: str | None = None,
    adjustment: str = "",
    visit_id: int | None = None,
    fold: int = 0,
) -> VisitFact:
    """A clocked visit starting at a Europe/Paris wall time and lasting ``minutes`` (UTC line)."""
    start = paris_to_utc(local_start, fold=fold)
    end = start + timedelta(minutes=minutes)
    return VisitFact(
        visit_id=visit_id or next(_ids),
        beneficiary_id=ben,
        worker_id=worker,
        service_date=paris_date(start),
        started_at=start,
        ended_at=end,
        clocked_start=start,
        clocked_end=end,
        service_code=service,
        adjustment=adjustment,
        status="complete",
    )
