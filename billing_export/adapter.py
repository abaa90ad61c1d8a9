"""Load a month's plain facts from the ledger tables (the only SQLAlchemy code here)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_export.esppadom import BeneficiaryInfo, FunderInfo, WorkerInfo
from ledger.facts import load_month_facts
from ledger.models import (
    Beneficiary,
    Funder,
    Worker,
)
from ledger.money import PlanFact, VisitFact
from ledger.timeutil import Month


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


def load_month(session: Session, year: int, month: int) -> MonthFacts:
    facts = load_month_facts(session, Month(year, month))
    visits, plans = facts.visits, facts.plans
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
