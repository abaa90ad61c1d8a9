"""Small, explicit builders of organisation data for tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from ledger import closures
from ledger.closing import Cutoff
from ledger.models import (
    Antenna,
    Beneficiary,
    CarePlan,
    Civility,
    Funder,
    FunderKind,
    Phone,
    Worker,
)
from ledger.timeutil import Month

_seq = itertools.count(1)


def antenna(session: Session, code: str | None = None) -> Antenna:
    n = next(_seq)
    obj = Antenna(code=code or f"A{n}", name=f"Antenne {code or n}", address="1 rue de Paris")
    session.add(obj)
    session.flush()
    return obj


def worker(session: Session, ant: Antenna, code: str | None = None, **kw: object) -> Worker:
    n = next(_seq)
    obj = Worker(
        external_id=f"W{n}",
        civility=Civility.MRS,
        last_name=f"Intervenante{n}",
        first_name="Marie",
        antenna_id=ant.id,
        # Six digits: never equal to the four-digit codes tests choose themselves.
        phone_code=code or f"{100000 + n}",
        active_from=date(2020, 1, 1),
        **kw,
    )
    session.add(obj)
    session.flush()
    return obj


def beneficiary(
    session: Session, ant: Antenna, phones: tuple[str, ...] = (), **kw: object
) -> Beneficiary:
    n = next(_seq)
    kw.setdefault("civility", Civility.MR)
    obj = Beneficiary(
        external_id=f"B{n}",
        last_name=f"Beneficiaire{n}",
        first_name="Jean",
        address=f"{n} rue Oberkampf",
        postcode="75011",
        city="Paris",
        antenna_id=ant.id,
        care_start=date(2020, 1, 1),
        **kw,
    )
    session.add(obj)
    session.flush()
    for number in phones:
        session.add(
            Phone(
                beneficiary_id=obj.id,
                e164=number,
                kind="mobile"
                if number.startswith("+336") or number.startswith("+337")
                else "landline",
                active_from=date(2020, 1, 1),
            )
        )
    session.flush()
    return obj


def funder(session: Session, kind: FunderKind = FunderKind.APA, code: str | None = None) -> Funder:
    obj = Funder(
        code=code or f"{kind.value}{next(_seq)}", name=f"Financeur {kind.value}", kind=kind
    )
    session.add(obj)
    session.flush()
    return obj


def care_plan(
    session: Session,
    ben: Beneficiary,
    fund: Funder,
    *,
    starts_on: date = date(2020, 1, 1),
    ends_on: date | None = None,
    max_hours: float = 40.0,
    service_code: str = "AIDE",
) -> CarePlan:
    obj = CarePlan(
        beneficiary_id=ben.id,
        funder_id=fund.id,
        service_code=service_code,
        reference=f"PLAN-{next(_seq)}",
        max_hours=max_hours,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    session.add(obj)
    session.flush()
    return obj


@dataclass
class SmallOrg:
    """Two antennas, each with two workers and two beneficiaries."""

    antenna_a: Antenna
    antenna_b: Antenna
    worker_a1: Worker
    worker_a2: Worker
    worker_b1: Worker
    ben_a1: Beneficiary
    ben_a2: Beneficiary
    ben_b1: Beneficiary


def small_org(session: Session) -> SmallOrg:
    a = antenna(session, "NORD")
    b = antenna(session, "SUD")
    org = SmallOrg(
        antenna_a=a,
        antenna_b=b,
        worker_a1=worker(session, a, "1234"),
        worker_a2=worker(session, a, "5678"),
        worker_b1=worker(session, b, "4321"),
        ben_a1=beneficiary(session, a, ("+33145678901", "+33612345678")),
        ben_a2=beneficiary(session, a, ("+33145678902",)),
        ben_b1=beneficiary(session, b, ("+33145678903",)),
    )
    session.commit()
    return org


def close_month(session: Session, month: Month, actor: str = "referent") -> int:
    """Validate every funder's pro-forma and close ``month`` as a referent would; the revision."""
    now = Cutoff().at(month) + timedelta(minutes=1)
    for key in closures.figures(session, month, None).digests:
        closures.validate_funder(session, month, key, actor=actor, now=now, rules=None)
    life = closures.close_month(session, month, actor=actor, now=now, rules=None)
    session.commit()
    return life.revision


def reopen_month(session: Session, month: Month, motive: str = "Correction après clôture") -> None:
    now = Cutoff().at(month) + timedelta(minutes=2)
    closures.reopen_month(session, month, actor="referent", now=now, motive=motive)
    session.commit()
