"""A month of October 2026 in the ledger, with every case the teletransmission must handle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy.orm import Session

from billing_export.settings import BillingSettings
from ledger.models import (
    FunderKind,
    Visit,
)
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.service import correct_visit, enter_manual_visit, record_call
from ledger.timeutil import paris_to_utc
from tests import factories
from tests.factories import SmallOrg

# The flows tests' real OpenSSH server (session-scoped) and its emptied root.
from tests.flows.conftest import sftp_root, sshd  # noqa: F401
from tests.ledger.test_service import record

_channels = count(1)


def call(session: Session, worker_id: int, ben_id: int, at: datetime, direction: Direction) -> int:
    channel = f"billing-{next(_channels)}"
    recorded = record_call(
        session,
        record(channel, at, worker_id=worker_id, beneficiary_id=ben_id, direction=direction),
    )
    assert recorded.visit_id is not None
    return recorded.visit_id


def clocked(session: Session, worker_id: int, ben_id: int, start: datetime, end: datetime) -> Visit:
    call(session, worker_id, ben_id, start, Direction.ARRIVAL)
    visit_id = call(session, worker_id, ben_id, end, Direction.DEPARTURE)
    return session.get_one(Visit, visit_id)


def paris(day: int, hour: int, minute: int = 0, second: int = 0, fold: int = 0) -> datetime:
    return paris_to_utc(datetime(2026, 10, day, hour, minute, second), fold=fold)


@dataclass
class October:
    org: SmallOrg
    apa_code: str
    pch_code: str
    mutual_only_ref: str
    #: visit ids by role
    corrected: int
    manual: int
    deleted: int
    dst: int


@pytest.fixture
def settings() -> BillingSettings:
    return BillingSettings(provider_id="750012345", provider_siret="12345678900011")


@pytest.fixture
def october(session: Session, org: SmallOrg) -> October:
    """
    ben_a1: pension fund until 14 Oct, then APA 20 h (funder change mid-month).
    ben_a2: APA 2 h and PCH 10 h at once (two funders; the PCH plan has its own service).
    ben_b1: PCH, with a visit across the night the clocks go back (25 Oct).
    a fourth beneficiary has only a mutual plan: never in a Département file.
    """
    apa = factories.funder(session, FunderKind.APA)
    pch = factories.funder(session, FunderKind.PCH)
    # The identifiers the Département's platform gave them.
    apa.platform_id, apa.departement_code = "CD75-APA", "75"
    pch.platform_id, pch.departement_code = "CD75-PCH", "75"
    cnav = factories.funder(session, FunderKind.PENSION_FUND)
    mutual = factories.funder(session, FunderKind.MUTUAL)
    factories.care_plan(
        session, org.ben_a1, cnav, ends_on=date(2026, 10, 14), service_code="CAISSE"
    )
    factories.care_plan(session, org.ben_a1, apa, starts_on=date(2026, 10, 15), max_hours=20)
    factories.care_plan(session, org.ben_a2, apa, max_hours=2, service_code="APA-AIDE")
    factories.care_plan(session, org.ben_a2, pch, max_hours=10, service_code="PCH-AIDE")
    factories.care_plan(session, org.ben_b1, pch, max_hours=30, service_code="PCH-AIDE")
    lonely = factories.beneficiary(session, org.antenna_a)
    factories.care_plan(session, lonely, mutual, max_hours=10, service_code="SORTIE-HOSP")

    w1, w2, wb = org.worker_a1.id, org.worker_a2.id, org.worker_b1.id
    a1, a2, b1 = org.ben_a1.id, org.ben_a2.id, org.ben_b1.id
    # ben_a1: 90 min under the pension fund, 75 min (seconds dropped) under APA.
    clocked(session, w1, a1, paris(2, 9), paris(2, 10, 30))
    clocked(session, w1, a1, paris(20, 9, 0, 40), paris(20, 10, 15, 10))
    # A manager moves the departure of a 40 min visit to 10:00: 60 min, code COD.
    corrected = clocked(session, w2, a1, paris(21, 9), paris(21, 9, 40))
    correct_visit(
        session,
        corrected,
        started_at=corrected.started_at,
        ended_at=paris(21, 10),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="manager",
    )
    deleted = clocked(session, w1, a1, paris(22, 9), paris(22, 11))
    correct_visit(
        session,
        deleted,
        started_at=None,
        ended_at=None,
        motive=Motive.DUPLICATE_CALL,
        comment="",
        author="manager",
        delete=True,
    )
    # ben_a2: 3 x 50 min with no service code: APA 2 h, then PCH takes the rest.
    for day in (5, 6, 7):
        clocked(session, w1, a2, paris(day, 14), paris(day, 14, 50))
    # A manual visit of the PCH service (phone out of order): code CRE.
    manual = enter_manual_visit(
        session,
        worker=org.worker_a2,
        beneficiary=org.ben_a2,
        started_at=paris(8, 10),
        ended_at=paris(8, 11),
        motive=Motive.PHONE_OUT_OF_ORDER,
        comment="",
        author="manager",
        service_code="PCH-AIDE",
    )
    # ben_b1: 01:30 CEST to 02:30 CET on 25 Oct is two hours.
    dst = clocked(session, wb, b1, paris(25, 1, 30), paris(25, 2, 30, fold=1))
    # Outside October: not in the month.
    clocked(
        session,
        wb,
        b1,
        paris(31, 23, 30) + timedelta(hours=1),
        paris(31, 23, 30) + timedelta(hours=2),
    )
    # The mutual-only beneficiary.
    clocked(session, w2, lonely.id, paris(9, 9), paris(9, 10))
    session.commit()
    return October(
        org=org,
        apa_code=apa.code,
        pch_code=pch.code,
        mutual_only_ref=lonely.external_id,
        corrected=corrected.id,
        manual=manual.id,
        deleted=deleted.id,
        dst=dst.id,
    )
