"""Over real SIP and RTP (sipp, per-slot RFC 4733 pcaps): any code, and a restart under load.

Every call comes from its own number (its own beneficiary) with its own
worker's code, so each ledger event can be matched to the phone that made it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.models import CallEvent, CallOutcome
from ledger.pairing import Direction
from tests import factories
from tests.ivr.conftest import Asterisk, IvrProcess, free_port, wait_for
from tests.ivr.sipload import PhoneCall, distinct_codes, start_sipp

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed"),
]


@dataclass(frozen=True)
class Phone:
    e164: str
    code: str
    worker_id: int
    beneficiary_id: int

    @property
    def national(self) -> str:
        return "0" + self.e164.removeprefix("+33")


def make_phones(session_factory: sessionmaker[Session], count: int, seed: int = 17) -> list[Phone]:
    phones = []
    with session_factory() as session:
        antenna = factories.antenna(session, "CHARGE")
        for n, code in enumerate(distinct_codes(count, seed)):
            e164 = f"+33149{n:06d}"
            ben = factories.beneficiary(session, antenna, (e164,))
            worker = factories.worker(session, antenna, code)
            phones.append(Phone(e164, code, worker.id, ben.id))
        session.commit()
    return phones


def events_by_caller(
    factory: sessionmaker[Session], numbers: Sequence[str]
) -> dict[str, list[CallEvent]]:
    with factory() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.caller_e164.in_(list(numbers))).order_by(CallEvent.id)
        )
        out: dict[str, list[CallEvent]] = {}
        for event in rows:
            assert event.caller_e164 is not None
            out.setdefault(event.caller_e164, []).append(event)
        return out


def assert_recorded_right(phone: Phone, events: list[CallEvent]) -> None:
    [event] = events
    attempts = (event.digits or "").split(",")
    # A round cut by the restart may leave the end of a code as a wrong attempt,
    # never a digit twice: every attempt is the code or a tail of it.
    for attempt in attempts:
        assert phone.code.endswith(attempt), (phone.code, event.digits)
    assert attempts[-1] == phone.code, (phone.code, event.digits)
    assert event.outcome is CallOutcome.RECORDED, (phone.code, event.outcome, event.digits)
    assert event.worker_id == phone.worker_id
    assert event.beneficiary_id == phone.beneficiary_id
    assert event.direction is Direction.ARRIVAL


def test_any_code_over_sip(
    ivr: IvrProcess, asterisk: Asterisk, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    phones = make_phones(session_factory, 8)
    run = start_sipp(
        tmp_path / "sipp",
        [PhoneCall(p.national, (p.code + "#",)) for p in phones],
        sip_port=asterisk.sip_port,
        local_port=free_port(),
        media_port=free_port(),
        rate=2,
    )
    run.wait(180)
    numbers = [p.e164 for p in phones]
    found = wait_for(
        lambda: len(got := events_by_caller(session_factory, numbers)) == len(phones) and got,
        60,
        "every call recorded",
    )
    for phone in phones:
        assert_recorded_right(phone, found[phone.e164])


def test_ivr_killed_during_a_sip_load(
    ivr: IvrProcess, asterisk: Asterisk, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The IVR process killed in the middle of a SIP load and started again.

    Calls in progress stay in the Stasis application and are taken back after
    the reconnect (told to start again: the phone keys its code once more
    when no goodbye comes); calls placed while it is down take the dialplan's
    path and are replayed. Every call ends with its code and its direction,
    and no digit is ever read twice.
    """
    phones = make_phones(session_factory, 120, seed=2026)
    run = start_sipp(
        tmp_path / "sipp",
        [PhoneCall(p.national, (p.code + "#",) * 4) for p in phones],
        sip_port=asterisk.sip_port,
        local_port=free_port(),
        media_port=free_port(),
        rate=8,
        # A phone keys its code again when no goodbye comes: 9 s after the first
        # round, then every 12 s, four rounds in all. The IVR restarts in 10 s on a
        # quiet machine, 20 s or more on a loaded one: either way a whole round
        # begins after the reconnect, within the taken-back call's attempts (about
        # 20 s, though a round cut by the reconnect costs it one). A phone whose
        # every round fell in the outage would stand for a worker who gave up,
        # not for a lost code.
        wait_ms=(9000, 12000, 12000, 40000),
    )
    numbers = [p.e164 for p in phones]
    # Kill once calls are in progress and some are recorded.
    wait_for(lambda: len(events_by_caller(session_factory, numbers)) >= 20, 60, "20 calls in")
    spool = asterisk.dialplan_spool
    size = spool.stat().st_size if spool.exists() else 0
    ivr.kill()
    # The outage lasts until calls have taken the dialplan's path.
    wait_for(
        lambda: spool.exists() and spool.read_bytes()[size:].count(b"\n") >= 5 or None,
        60,
        "calls on the dialplan's path",
    )
    ivr.start()
    assert run.wait(300) is not None
    found = wait_for(
        lambda: len(got := events_by_caller(session_factory, numbers)) == len(phones) and got,
        90,
        "every call recorded",
    )
    failures = []
    for phone in phones:
        try:
            assert_recorded_right(phone, found[phone.e164])
        except AssertionError as exc:
            failures.append(f"{phone.e164}: {exc}")
    assert not failures, "\n".join(failures)
    # Each call taken back after the reconnect was told to start again.
    taken_back = re.findall(r"taking back call (\S+) \(Up\)", ivr.log.read_text())
    assert taken_back, "no call was in progress at the kill"
    for channel in taken_back:
        heard = ivr.media_played(channel)
        told = {"sound:telegestion/interrupted", "sound:telegestion/degraded-recorded"}
        assert told & set(heard), (channel, heard)
