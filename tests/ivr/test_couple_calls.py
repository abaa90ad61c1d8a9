"""Real calls from a phone two beneficiaries share (Local channels through the real Asterisk)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ledger.models import Beneficiary, Civility, Identification, PlannedVisit
from ledger.pairing import Direction
from ledger.timeutil import utc_now
from tests import factories
from tests.factories import SmallOrg
from tests.ivr.conftest import Asterisk, IvrProcess, wait_event

pytestmark = pytest.mark.asterisk

SHARED = "+33145000000"
DIALLED = "01 45 00 00 00"


def couple(
    session_factory: sessionmaker[Session], org: SmallOrg, **second: object
) -> tuple[int, int]:
    with session_factory() as session:
        mrs = factories.beneficiary(session, org.antenna_a, (SHARED,), civility=Civility.MRS,
                                    birth_date=date(1938, 5, 2))  # fmt: skip
        other = factories.beneficiary(session, org.antenna_a, (SHARED,), **second)
        session.commit()
        return mrs.id, other.id


def plan_now(session_factory: sessionmaker[Session], worker_id: int, beneficiary_id: int) -> None:
    with session_factory() as session:
        ben = session.get_one(Beneficiary, beneficiary_id)
        start = utc_now() - timedelta(minutes=15)
        session.add(PlannedVisit(worker_id=worker_id, beneficiary_id=ben.id,
                                 antenna_id=ben.antenna_id, starts_at=start,
                                 ends_at=start + timedelta(hours=1)))  # fmt: skip
        session.commit()


def test_the_visit_planned_now_decides_without_a_question(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    mrs, mr = couple(session_factory, org, civility=Civility.MR)
    plan_now(session_factory, org.worker_a1.id, mr)
    channel = asterisk.call(DIALLED, "1234#")
    event = wait_event(session_factory, channel)
    assert event.beneficiary_id == mr
    assert event.identification is Identification.OK
    assert event.direction is Direction.ARRIVAL
    assert "sound:telegestion/choice-intro" not in ivr.media_played(channel)


def test_the_keypad_chooses_without_a_name_then_the_open_visit_decides(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    mrs, mr = couple(session_factory, org, civility=Civility.MR)
    arrival_call = asterisk.call(DIALLED, "1234#WWW2")
    arrival = wait_event(session_factory, arrival_call)
    assert arrival.beneficiary_id == mr
    assert arrival.direction is Direction.ARRIVAL
    assert arrival.candidate_ids is None
    heard = ivr.media_played(arrival_call)
    # Asterisk played the choice by civility (the rest of it was cut by the key).
    assert heard[heard.index("sound:telegestion/choice-intro") + 1] == (
        "sound:telegestion/choice-mrs"
    )
    departure_call = asterisk.call(DIALLED, "1234#")
    departure = wait_event(session_factory, departure_call)
    assert departure.beneficiary_id == mr
    assert departure.direction is Direction.DEPARTURE
    assert "sound:telegestion/choice-intro" not in ivr.media_played(departure_call)


def test_nothing_decides_and_the_call_keeps_its_candidates(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    first, second = couple(session_factory, org, civility=Civility.MRS, birth_date=date(1938, 5, 2))
    channel = asterisk.call(DIALLED, "1234#WWWW1")
    event = wait_event(session_factory, channel)
    assert event.beneficiary_id is None
    assert event.identification is Identification.UNKNOWN_NUMBER
    assert event.candidate_ids == f"{first},{second}"
    assert event.worker_id == org.worker_a1.id
    assert event.direction is Direction.ARRIVAL  # asked, keyed 1
    assert "sound:telegestion/choice-intro" not in ivr.media_played(channel)
