"""Load the plain facts that the rules of money (``ledger.money``) work on.

The one reader of visits and care plans for every figure of money: the
pre-billing and teletransmission, the service-done file, the statements, the
statistics, the visits CSV and the people pages all call ``load_month_facts``
and ``ledger.money.allocate_month``, so they cannot read the ledger two ways.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, aliased

from ledger.models import Beneficiary, CallEvent, CarePlan, Funder, Visit, VisitStatus, VisitVersion
from ledger.money import MonthBilling, PlanFact, Rounding, VisitFact, allocate_month
from ledger.motives import esppadom_code
from ledger.timeutil import Month, as_utc


@dataclass(frozen=True)
class MonthFacts:
    month: Month
    visits: list[VisitFact]
    plans: list[PlanFact]


def _visit_filter(
    month: Month,
    antenna_ids: Collection[int] | None,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> list[ColumnElement[bool]]:
    where = [
        Visit.service_date >= month.first_day,
        Visit.service_date <= month.last_day,
        Visit.status != VisitStatus.DELETED,
    ]
    if antenna_ids is not None:
        where.append(Visit.antenna_id.in_(sorted(antenna_ids)))
    if beneficiary_id is not None:
        where.append(Visit.beneficiary_id == beneficiary_id)
    if worker_id is not None:
        where.append(Visit.worker_id == worker_id)
    return where


def load_month_facts(
    session: Session,
    month: Month,
    antenna_ids: Collection[int] | None = None,
    *,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> MonthFacts:
    """The month's visits (not deleted) and the plans in force during it.

    ``antenna_ids`` restricts to those antennas (a manager's scope); a
    beneficiary's visits all belong to their antenna, so the allocation of a
    beneficiary's month is the same whatever the scope. ``beneficiary_id``
    keeps one beneficiary's month (their allocation is whole); ``worker_id``
    one worker's visits, whose kept minutes are right (a visit's rounding does
    not depend on the others) but whose split between plans is only the
    beneficiary's month's to tell.
    """
    arrival = aliased(CallEvent)
    departure = aliased(CallEvent)
    in_month = and_(*_visit_filter(month, antenna_ids, beneficiary_id, worker_id))
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
            Visit.antenna_id,
            arrival.answered_at,
            departure.answered_at,
        )
        .outerjoin(arrival, arrival.id == Visit.arrival_event_id)
        .outerjoin(departure, departure.id == Visit.departure_event_id)
        .where(in_month)
        .order_by(Visit.id)
    ).all()
    visits: list[VisitFact] = []
    for vid, ben, wid, day, raw_start, raw_end, service, status, antenna, raw_in, raw_out in rows:
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
                adjustment=code.value if code is not None else "",
                status=status.value,
                antenna_id=antenna,
            )
        )

    plan_query = (
        select(CarePlan, Funder)
        .join(Funder, Funder.id == CarePlan.funder_id)
        .where(
            CarePlan.starts_on <= month.last_day,
            or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= month.first_day),
        )
        .order_by(CarePlan.id)
    )
    if beneficiary_id is not None:
        plan_query = plan_query.where(CarePlan.beneficiary_id == beneficiary_id)
    if antenna_ids is not None:
        plan_query = plan_query.join(Beneficiary, Beneficiary.id == CarePlan.beneficiary_id).where(
            Beneficiary.antenna_id.in_(sorted(antenna_ids))
        )
    plans = [
        PlanFact(
            plan_id=plan.id,
            beneficiary_id=plan.beneficiary_id,
            funder_code=funder.code,
            funder_kind=funder.kind.value,
            departement=funder.kind.is_departement,
            service_code=plan.service_code,
            reference=plan.reference,
            max_minutes=plan_minutes(float(plan.max_hours)),
            starts_on=plan.starts_on,
            ends_on=plan.ends_on,
        )
        for plan, funder in session.execute(plan_query).all()
    ]
    return MonthFacts(month, visits, plans)


def plan_minutes(max_hours: float) -> int:
    """A plan's monthly maximum in whole minutes (hours are notified with two decimals)."""
    return round(max_hours * 60)


def month_billing(
    session: Session,
    month: Month,
    rules: dict[str, Rounding] | None = None,
    antenna_ids: Collection[int] | None = None,
    *,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> tuple[MonthFacts, MonthBilling]:
    """Load a month and allocate it: the figures every output of money starts from."""
    facts = load_month_facts(
        session, month, antenna_ids, beneficiary_id=beneficiary_id, worker_id=worker_id
    )
    return facts, allocate_month(month.year, month.month, facts.visits, facts.plans, rules)
