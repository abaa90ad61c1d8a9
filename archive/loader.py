"""Load a month of statement inputs from the ledger.

The month's billable facts (visits, plans) come from the ledger's one reader
for money (``ledger.facts.load_month_facts``), so that a statement and the
pre-billing read the ledger the same way. This module only
adds what a statement shows and billing does not: deleted visits, the
correction motives and the beneficiary's antenna.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.figures import BeneficiaryInfo, Organisation, StatementInput, VisitRow
from kernel.settings import money
from ledger.facts import load_month_facts
from ledger.models import (
    Antenna,
    Beneficiary,
    Civility,
    Funder,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.money import PlanFact, VisitFact
from ledger.motives import EsppadomAdjustment
from ledger.timeutil import Month

_CIVILITY = {Civility.MR: "M.", Civility.MRS: "Mme"}
_CHUNK = 900


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First day of the month and first day of the next."""
    period = Month(year, month)
    return period.first_day, period.next().first_day


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _worker_label(first_name: str, last_name: str) -> str:
    # First name and initial: enough for the family, no full name of staff on paper.
    return f"{first_name} {last_name[:1]}."


def load_inputs(
    session: Session,
    organisation: Organisation,
    year: int,
    month: int,
    beneficiary_ids: Iterable[int] | None = None,
) -> list[StatementInput]:
    """One ``StatementInput`` per beneficiary served in the month (or those given)."""
    first, after = month_bounds(year, month)
    facts = load_month_facts(session, Month(year, month))
    rules = tuple(sorted(money().rules.items()))
    funder_names = {code: name for code, name in session.execute(select(Funder.code, Funder.name))}
    wanted = set(beneficiary_ids) if beneficiary_ids is not None else None

    deleted = session.execute(
        select(Visit, Worker.first_name, Worker.last_name)
        .join(Worker, Worker.id == Visit.worker_id)
        .where(
            Visit.service_date >= first,
            Visit.service_date < after,
            Visit.status == VisitStatus.DELETED,
        )
    ).all()
    served = {v.beneficiary_id for v in facts.visits} | {v.beneficiary_id for v, _, _ in deleted}
    ids = sorted(served if wanted is None else served & wanted)
    if not ids:
        return []
    id_set = set(ids)

    visit_ids = [v.visit_id for v in facts.visits if v.beneficiary_id in id_set]
    visit_ids += [v.id for v, _, _ in deleted if v.beneficiary_id in id_set]
    reasons: dict[int, str] = {}
    for chunk in _chunks(sorted(visit_ids)):
        for version in session.scalars(
            select(VisitVersion)
            .where(VisitVersion.visit_id.in_(chunk), VisitVersion.motive.is_not(None))
            .order_by(VisitVersion.visit_id, VisitVersion.version)
        ):
            assert version.motive is not None
            comment = version.comment.strip()
            label = version.motive.label
            reasons[version.visit_id] = f"{label} : {comment}" if comment else label

    worker_ids = sorted({f.worker_id for f in facts.visits if f.beneficiary_id in id_set})
    worker_names: dict[int, str] = {}
    for chunk in _chunks(worker_ids):
        for wid, first_name, last_name in session.execute(
            select(Worker.id, Worker.first_name, Worker.last_name).where(Worker.id.in_(chunk))
        ):
            worker_names[wid] = _worker_label(first_name, last_name)
    rows: dict[int, list[VisitRow]] = defaultdict(list)
    for fact in facts.visits:
        if fact.beneficiary_id not in id_set:
            continue
        rows[fact.beneficiary_id].append(
            VisitRow(
                fact=fact,
                worker_name=worker_names.get(fact.worker_id, "?"),
                corrected=fact.visit_id in reasons
                or fact.status in (VisitStatus.CORRECTED.value, VisitStatus.MANUAL.value),
                correction_reason=reasons.get(fact.visit_id, ""),
                deleted=False,
            )
        )
    for visit, first_name, last_name in deleted:
        if visit.beneficiary_id not in id_set:
            continue
        rows[visit.beneficiary_id].append(
            VisitRow(
                fact=VisitFact(
                    visit_id=visit.id,
                    beneficiary_id=visit.beneficiary_id,
                    worker_id=visit.worker_id,
                    service_date=visit.service_date,
                    started_at=visit.started_at,
                    ended_at=visit.ended_at,
                    clocked_start=None,
                    clocked_end=None,
                    service_code=visit.service_code,
                    adjustment=EsppadomAdjustment.SUP.value,
                    status=visit.status.value,
                ),
                worker_name=_worker_label(first_name, last_name),
                corrected=True,
                correction_reason=reasons.get(visit.id, ""),
                deleted=True,
            )
        )

    plans: dict[int, list[PlanFact]] = defaultdict(list)
    for plan in facts.plans:
        if plan.beneficiary_id in id_set:
            plans[plan.beneficiary_id].append(plan)

    inputs = []
    for chunk in _chunks(ids):
        for ben, antenna in session.execute(
            select(Beneficiary, Antenna)
            .join(Antenna, Antenna.id == Beneficiary.antenna_id)
            .where(Beneficiary.id.in_(chunk))
            .order_by(Beneficiary.id)
        ):
            own_plans = tuple(plans.get(ben.id, ()))
            codes = sorted({p.funder_code for p in own_plans})
            inputs.append(
                StatementInput(
                    organisation=organisation,
                    beneficiary=BeneficiaryInfo(
                        beneficiary_id=ben.id,
                        external_id=ben.external_id,
                        display_name=(
                            f"{_CIVILITY[ben.civility]} {ben.first_name} {ben.last_name}"
                        ),
                        address=", ".join(
                            part
                            for part in (ben.address, f"{ben.postcode} {ben.city}".strip())
                            if part
                        ),
                        antenna_id=antenna.id,
                        antenna_name=antenna.name,
                    ),
                    year=year,
                    month=month,
                    visits=tuple(rows.get(ben.id, ())),
                    plans=own_plans,
                    rules=rules,
                    funder_names=tuple(
                        (code, funder_names[code]) for code in codes if code in funder_names
                    ),
                )
            )
    return inputs
