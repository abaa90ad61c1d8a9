"""Load a month's plain facts from the ledger tables (the only SQLAlchemy code here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from billing_export.esppadom import BeneficiaryInfo, FunderInfo, WorkerInfo
from billing_export.prebilling import PlanFact, VisitFact
from ledger.models import (
    Beneficiary,
    CallEvent,
    CarePlan,
    Funder,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.motives import esppadom_code
from ledger.timeutil import as_utc


@dataclass(frozen=True)
class MonthFacts:
    year: int
    month: int
    visits: list[VisitFact]
    plans: list[PlanFact]
    funders: dict[str, FunderInfo]
    beneficiaries: dict[int, BeneficiaryInfo]
    workers: dict[int, WorkerInfo]
    #: Beneficiary external ids, for files read by people and the planning software.
    beneficiary_refs: dict[int, str]
    worker_refs: dict[int, str]


def month_days(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def load_month(session: Session, year: int, month: int) -> MonthFacts:
    first, last = month_days(year, month)
    arrival = aliased(CallEvent)
    departure = aliased(CallEvent)
    in_month = and_(
        Visit.service_date >= first,
        Visit.service_date <= last,
        Visit.status != VisitStatus.DELETED,
    )
    corrected_ids = set(
        session.scalars(
            select(VisitVersion.visit_id)
            .join(Visit, Visit.id == VisitVersion.visit_id)
            .where(in_month, VisitVersion.motive.is_not(None))
            .distinct()
        )
    )
    rows = session.execute(
        select(
            Visit.id,
            Visit.beneficiary_id,
            Visit.worker_id,
            Visit.service_date,
            Visit.started_at,
            Visit.ended_at,
            Visit.service_code,
            Visit.status,
            arrival.answered_at,
            departure.answered_at,
        )
        .outerjoin(arrival, arrival.id == Visit.arrival_event_id)
        .outerjoin(departure, departure.id == Visit.departure_event_id)
        .where(in_month)
        .order_by(Visit.id)
    ).all()
    visits: list[VisitFact] = []
    for vid, ben, wid, day, raw_start, raw_end, service, status, raw_in, raw_out in rows:
        start = as_utc(raw_start) if raw_start else None
        end = as_utc(raw_end) if raw_end else None
        clock_in = as_utc(raw_in) if raw_in else None
        clock_out = as_utc(raw_out) if raw_out else None
        arrival_changed = clock_in is not None and start != clock_in
        departure_changed = clock_out is not None and end != clock_out
        code = esppadom_code(
            had_arrival_call=clock_in is not None,
            had_departure_call=clock_out is not None,
            times_changed=arrival_changed or departure_changed,
            deleted=False,
            corrected=vid in corrected_ids or status in (VisitStatus.CORRECTED, VisitStatus.MANUAL),
            arrival_changed=arrival_changed,
            departure_changed=departure_changed,
        )
        visits.append(
            VisitFact(
                visit_id=vid,
                beneficiary_id=ben,
                worker_id=wid,
                service_date=day,
                started_at=start,
                ended_at=end,
                clocked_start=clock_in,
                clocked_end=clock_out,
                service_code=service,
                adjustment=code.value,
                status=status.value,
            )
        )

    plan_rows = session.execute(
        select(CarePlan, Funder)
        .join(Funder, Funder.id == CarePlan.funder_id)
        .where(
            CarePlan.starts_on <= last,
            or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= first),
        )
        .order_by(CarePlan.id)
    ).all()
    plans = [
        PlanFact(
            plan_id=plan.id,
            beneficiary_id=plan.beneficiary_id,
            funder_code=funder.code,
            funder_kind=funder.kind.value,
            departement=funder.kind.is_departement,
            service_code=plan.service_code,
            reference=plan.reference,
            max_minutes=round(float(plan.max_hours) * 60),
            starts_on=plan.starts_on,
            ends_on=plan.ends_on,
        )
        for plan, funder in plan_rows
    ]
    funders = {
        f.code: FunderInfo(f.code, f.name, f.kind.value) for f in session.scalars(select(Funder))
    }
    ben_ids = {v.beneficiary_id for v in visits} | {p.beneficiary_id for p in plans}
    worker_ids = {v.worker_id for v in visits}
    beneficiaries: dict[int, BeneficiaryInfo] = {}
    ben_refs: dict[int, str] = {}
    for chunk in _chunks(sorted(ben_ids)):
        for b in session.scalars(select(Beneficiary).where(Beneficiary.id.in_(chunk))):
            ben_refs[b.id] = b.external_id
            beneficiaries[b.id] = BeneficiaryInfo(
                b.external_id,
                b.first_name,
                b.last_name,
                b.birth_date,
                b.address,
                b.postcode,
                b.city,
            )
    workers: dict[int, WorkerInfo] = {}
    worker_refs: dict[int, str] = {}
    for chunk in _chunks(sorted(worker_ids)):
        for w in session.scalars(select(Worker).where(Worker.id.in_(chunk))):
            worker_refs[w.id] = w.external_id
            workers[w.id] = WorkerInfo(w.external_id, w.first_name, w.last_name)
    return MonthFacts(
        year, month, visits, plans, funders, beneficiaries, workers, ben_refs, worker_refs
    )


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
