"""The figures of a monthly statement, computed from plain data (no database).

The split of the month's hours between plans and funders is the billing
engineer's pure allocation (``ledger.money.allocate_month``), so that a
statement and the pre-billing of the same month always agree; this module
only groups its result the way the statement shows it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from ledger.money import (
    Category,
    PlanFact,
    Rounding,
    VisitFact,
    allocate_month,
    format_hours,
)
from ledger.timeutil import as_utc, to_paris


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    address: str
    siret: str
    phone: str


@dataclass(frozen=True, slots=True)
class BeneficiaryInfo:
    beneficiary_id: int
    external_id: str
    #: "M." or "Mme", then the names, as printed.
    display_name: str
    address: str
    antenna_id: int
    antenna_name: str


@dataclass(frozen=True, slots=True)
class VisitRow:
    """One visit of the month, as the statement needs it (UTC times)."""

    fact: VisitFact
    worker_name: str
    #: True when a manager changed, entered or deleted the visit.
    corrected: bool
    #: French label of the last correction's motive, with its comment.
    correction_reason: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class StatementInput:
    organisation: Organisation
    beneficiary: BeneficiaryInfo
    year: int
    month: int
    visits: tuple[VisitRow, ...]
    plans: tuple[PlanFact, ...]
    #: Funder code -> funder name, for printing.
    funder_names: tuple[tuple[str, str], ...] = ()
    #: The funders' rounding (``kernel.settings.money``), as pre-billing applies it.
    rules: tuple[tuple[str, Rounding], ...] = ()


@dataclass(frozen=True, slots=True)
class VisitLine:
    visit_id: int
    day: date
    worker_name: str
    #: Europe/Paris wall-clock times, None when the call is missing.
    arrival: datetime | None
    departure: datetime | None
    #: Minutes kept (the recorded length, seconds dropped); None when incomplete.
    minutes: int | None
    corrected: bool
    correction_reason: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class FunderTotal:
    funder_code: str  # "" outside any plan
    service_code: str
    visits: int
    minutes: int


@dataclass(frozen=True, slots=True)
class PlanUse:
    plan_id: int
    reference: str
    funder_code: str
    service_code: str
    #: The plan's monthly maximum.
    planned_minutes: int
    #: Minutes of this month's visits given to the plan (within and beyond it).
    done_minutes: int


@dataclass(frozen=True, slots=True)
class StatementFigures:
    year: int
    month: int
    beneficiary_id: int
    lines: tuple[VisitLine, ...]
    by_funder: tuple[FunderTotal, ...]
    plans: tuple[PlanUse, ...]
    total_minutes: int
    #: Visits counted in the totals (complete, not deleted).
    counted_visits: int
    #: Visits listed but not counted: missing arrival or departure.
    incomplete_visits: int
    deleted_visits: int


def compute_figures(data: StatementInput) -> StatementFigures:
    """Everything the statement prints, from plain data."""
    live = [row.fact for row in data.visits if not row.deleted]
    billing = allocate_month(data.year, data.month, live, data.plans, dict(data.rules))
    kept = {vb.visit.visit_id: vb.kept.minutes for vb in billing.visits}

    lines = []
    for row in sorted(
        data.visits,
        key=lambda r: (
            r.fact.service_date,
            as_utc(r.fact.started_at or r.fact.ended_at or datetime.min),
            r.fact.visit_id,
        ),
    ):
        fact = row.fact
        if fact.service_date.year != data.year or fact.service_date.month != data.month:
            continue
        lines.append(
            VisitLine(
                visit_id=fact.visit_id,
                day=fact.service_date,
                worker_name=row.worker_name,
                arrival=to_paris(fact.started_at) if fact.started_at else None,
                departure=to_paris(fact.ended_at) if fact.ended_at else None,
                minutes=None if row.deleted else kept.get(fact.visit_id),
                corrected=row.corrected,
                correction_reason=row.correction_reason,
                deleted=row.deleted,
            )
        )

    funder_visits: dict[tuple[str, str], set[int]] = defaultdict(set)
    funder_minutes: dict[tuple[str, str], int] = defaultdict(int)
    done: dict[int, int] = defaultdict(int)
    for vb in billing.visits:
        for share in vb.shares:
            code = share.plan.funder_code if share.plan else ""
            service = share.plan.service_code if share.plan else (vb.visit.service_code or "")
            funder_visits[(code, service)].add(vb.visit.visit_id)
            funder_minutes[(code, service)] += share.minutes
            if share.plan is not None and share.category is not Category.OUTSIDE:
                done[share.plan.plan_id] += share.minutes

    month_start = date(data.year, data.month, 1)
    month_end = date(data.year + data.month // 12, data.month % 12 + 1, 1)
    plans = tuple(
        PlanUse(
            plan_id=p.plan_id,
            reference=p.reference,
            funder_code=p.funder_code,
            service_code=p.service_code,
            planned_minutes=p.max_minutes,
            done_minutes=done.get(p.plan_id, 0),
        )
        for p in sorted(data.plans, key=lambda p: p.priority)
        if p.starts_on < month_end and (p.ends_on is None or p.ends_on >= month_start)
    )
    by_funder = tuple(
        FunderTotal(code, service, len(funder_visits[(code, service)]), minutes)
        for (code, service), minutes in sorted(funder_minutes.items())
    )
    return StatementFigures(
        year=data.year,
        month=data.month,
        beneficiary_id=data.beneficiary.beneficiary_id,
        lines=tuple(lines),
        by_funder=by_funder,
        plans=plans,
        total_minutes=sum(kept.values()),
        counted_visits=len(billing.visits),
        incomplete_visits=len(billing.unbillable),
        deleted_visits=sum(1 for line in lines if line.deleted),
    )


#: French display of a duration (``12 h 05``): the ledger's one formatting.
hours = format_hours
