"""A couple on one phone: the worker's open and planned visits decide, else the keypad."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from ivr.sharing import Option, pick_beneficiary
from ledger.models import Antenna, Beneficiary, CallOutcome, Civility, Identification, PlannedVisit
from ledger.pairing import Direction
from ledger.service import CallRecord, record_call
from tests import factories

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Paris


@pytest.fixture
def home(session: Session) -> tuple[Antenna, Beneficiary, Beneficiary]:
    antenna = factories.antenna(session)
    mrs = factories.beneficiary(session, antenna, ("+33145000000",), civility=Civility.MRS,
                                birth_date=date(1938, 5, 2))  # fmt: skip
    mr = factories.beneficiary(session, antenna, ("+33145000000",), civility=Civility.MR,
                               birth_date=date(1935, 1, 9))  # fmt: skip
    return antenna, mrs, mr


def plan(session: Session, worker_id: int, ben: Beneficiary, start: datetime) -> None:
    session.add(PlannedVisit(worker_id=worker_id, beneficiary_id=ben.id, antenna_id=ben.antenna_id,
                             starts_at=start, ends_at=start + timedelta(hours=1)))  # fmt: skip
    session.flush()


def test_the_visit_planned_now_decides(session: Session, home: tuple) -> None:  # type: ignore[type-arg]
    antenna, mrs, mr = home
    worker = factories.worker(session, antenna)
    plan(session, worker.id, mr, NOW - timedelta(minutes=10))
    plan(session, worker.id, mrs, NOW + timedelta(hours=5))
    pick = pick_beneficiary(session, worker.id, (mrs.id, mr.id), NOW)
    assert (pick.beneficiary_id, pick.reason) == (mr.id, "planned")


def test_the_open_visit_decides_the_departure(session: Session, home: tuple) -> None:  # type: ignore[type-arg]
    antenna, mrs, mr = home
    worker = factories.worker(session, antenna)
    # Both planned around now: the plan alone cannot tell; the arrival called in can.
    plan(session, worker.id, mrs, NOW - timedelta(minutes=30))
    plan(session, worker.id, mr, NOW)
    record_call(session, CallRecord(
        channel_id="arrival", received_at=NOW - timedelta(minutes=40),
        answered_at=NOW - timedelta(minutes=40), caller_raw="0145000000", ani_raw=None,
        called_number=None, digits=worker.phone_code, code_completed_at=None,
        beneficiary_id=mrs.id, worker_id=worker.id, identification=Identification.OK,
        direction=Direction.ARRIVAL, outcome=CallOutcome.RECORDED))  # fmt: skip
    pick = pick_beneficiary(session, worker.id, (mrs.id, mr.id), NOW)
    assert (pick.beneficiary_id, pick.reason) == (mrs.id, "open_visit")


def test_two_visits_planned_today_are_offered_by_their_times(session: Session, home: tuple) -> None:  # type: ignore[type-arg]
    antenna, mrs, mr = home
    worker = factories.worker(session, antenna)
    plan(session, worker.id, mr, NOW + timedelta(hours=1, minutes=30))
    plan(session, worker.id, mrs, NOW - timedelta(minutes=30))
    pick = pick_beneficiary(session, worker.id, (mrs.id, mr.id), NOW)
    assert pick.beneficiary_id is None
    assert pick.options == (
        Option(mrs.id, "planned", NOW - timedelta(minutes=30)),
        Option(mr.id, "planned", NOW + timedelta(hours=1, minutes=30)),
    )


def test_without_plans_madame_then_monsieur(session: Session, home: tuple) -> None:  # type: ignore[type-arg]
    antenna, mrs, mr = home
    worker = factories.worker(session, antenna)
    pick = pick_beneficiary(session, worker.id, (mr.id, mrs.id), NOW)
    assert pick.options == (Option(mrs.id, "mrs"), Option(mr.id, "mr"))


def test_same_civility_by_age_then_nobody(session: Session) -> None:
    antenna = factories.antenna(session)
    older = factories.beneficiary(session, antenna, ("+33145000001",), birth_date=date(1930, 1, 1))
    younger = factories.beneficiary(session, antenna, ("+33145000001",),
                                    birth_date=date(1941, 6, 1))  # fmt: skip
    twin = factories.beneficiary(session, antenna, ("+33145000002",))
    twin_2 = factories.beneficiary(session, antenna, ("+33145000002",))
    worker = factories.worker(session, antenna)
    pick = pick_beneficiary(session, worker.id, (younger.id, older.id), NOW)
    assert pick.options == (Option(older.id, "older"), Option(younger.id, "younger"))
    nobody = pick_beneficiary(session, worker.id, (twin.id, twin_2.id), NOW)
    assert nobody.beneficiary_id is None and nobody.options == ()
