"""Load a month's plain facts and the parties the files name (the only SQLAlchemy reads here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_export.esppadom import BeneficiaryInfo, WorkerInfo
from ledger.facts import load_month_facts
from ledger.funders import FunderIdentity, identities
from ledger.models import Beneficiary, Worker
from ledger.money import PlanFact, VisitFact
from ledger.timeutil import Month


@dataclass
class Parties:
    """Beneficiaries and workers as the files name them, loaded on demand."""

    beneficiaries: dict[int, BeneficiaryInfo] = field(default_factory=dict)
    workers: dict[int, WorkerInfo] = field(default_factory=dict)
    #: External ids, for files read by people and the planning software.
    beneficiary_refs: dict[int, str] = field(default_factory=dict)
    worker_refs: dict[int, str] = field(default_factory=dict)

    def load(
        self, session: Session, beneficiary_ids: Iterable[int], worker_ids: Iterable[int]
    ) -> None:
        for chunk in _chunks(sorted(set(beneficiary_ids) - set(self.beneficiaries))):
            for b in session.scalars(select(Beneficiary).where(Beneficiary.id.in_(chunk))):
                self.beneficiary_refs[b.id] = b.external_id
                self.beneficiaries[b.id] = BeneficiaryInfo(
                    b.external_id,
                    b.first_name,
                    b.last_name,
                    b.birth_date,
                    b.address,
                    b.postcode,
                    b.city,
                )
        for chunk in _chunks(sorted(set(worker_ids) - set(self.workers))):
            for w in session.scalars(select(Worker).where(Worker.id.in_(chunk))):
                self.worker_refs[w.id] = w.external_id
                self.workers[w.id] = WorkerInfo(w.external_id, w.first_name, w.last_name)


@dataclass(frozen=True)
class MonthFacts:
    month: Month
    visits: list[VisitFact]
    plans: list[PlanFact]
    funders: dict[str, FunderIdentity]
    parties: Parties

    @property
    def year(self) -> int:
        return self.month.year

    @property
    def beneficiary_refs(self) -> dict[int, str]:
        return self.parties.beneficiary_refs

    @property
    def worker_refs(self) -> dict[int, str]:
        return self.parties.worker_refs


def load_month(session: Session, month: Month) -> MonthFacts:
    facts = load_month_facts(session, month)
    parties = Parties()
    parties.load(
        session,
        {v.beneficiary_id for v in facts.visits} | {p.beneficiary_id for p in facts.plans},
        {v.worker_id for v in facts.visits},
    )
    return MonthFacts(month, facts.visits, facts.plans, identities(session), parties)


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
