"""End-to-end: real calls through the real Asterisk into the real IVR process.

Local channels play the phone: one half runs the toll-free dialplan with the
caller number set, the other keys the digits with SendDTMF. Each test polls
the ledger for the call's event.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.models import (
    CallEvent,
    CallOutcome,
    CallSource,
    Identification,
    Visit,
    VisitStatus,
)
from ledger.pairing import Direction
from tests.factories import SmallOrg
from tests.ivr.conftest import Asterisk, IvrProcess, call_event, wait_event, wait_for

pytestmark = pytest.mark.asterisk


def visits_of(factory: sessionmaker[Session], worker_id: int) -> list[Visit]:
    with factory() as session:
        return list(
            session.scalars(select(Visit).where(Visit.worker_id == worker_id).order_by(Visit.id))
        )


def test_arrival_then_departure(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    arrival = wait_event(session_factory, asterisk.call("01 45 67 89 01", "1234#"))
    assert arrival.outcome is CallOutcome.RECORDED
    assert arrival.direction is Direction.ARRIVAL
    assert arrival.beneficiary_id == org.ben_a1.id
    assert arrival.worker_id == org.worker_a1.id
    assert arrival.code_completed_at is not None
    departure = wait_event(session_factory, asterisk.call("0145678901", "1234#"))
    assert departure.direction is Direction.DEPARTURE
    [visit] = visits_of(session_factory, org.worker_a1.id)
    assert visit.status is VisitStatus.COMPLETE
    assert visit.arrival_event_id == arrival.id
    assert visit.departure_event_id == departure.id


def test_second_number_in_international_form(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    event = wait_event(session_factory, asterisk.call("0033612345678", "5678#"))
    assert event.beneficiary_id == org.ben_a1.id
    assert event.identification is Identification.OK
    assert event.direction is Direction.ARRIVAL


def test_unknown_number_is_recorded_with_the_number(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    event = wait_event(session_factory, asterisk.call("0199999999", "1234#WWWW1"))
    assert event.identification is Identification.UNKNOWN_NUMBER
    assert event.beneficiary_id is None
    assert event.caller_e164 == "+33199999999"
    assert event.worker_id == org.worker_a1.id
    assert event.direction is Direction.ARRIVAL
    assert event.outcome is CallOutcome.RECORDED


def test_withheld_number(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    event = wait_event(session_factory, asterisk.call("", "1234#WWWW2"))
    assert event.identification is Identification.WITHHELD_NUMBER
    assert event.caller_e164 is None
    assert event.direction is Direction.DEPARTURE


def test_wrong_code_then_the_right_one(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    event = wait_event(session_factory, asterisk.call("0145678902", "9999#WWWW5678#"))
    assert event.digits == "9999,5678"
    assert event.worker_id == org.worker_a2.id
    assert event.beneficiary_id == org.ben_a2.id
    assert event.outcome is CallOutcome.RECORDED


def test_three_wrong_codes(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    channel = asterisk.call("0145678902", "1111#WWWW2222#WWWW3333#")
    event = wait_event(session_factory, channel)
    assert event.outcome is CallOutcome.TOO_MANY_ATTEMPTS
    assert event.identification is Identification.UNKNOWN_WORKER
    assert event.digits == "1111,2222,3333"
    assert visits_of(session_factory, org.worker_a2.id) == []


def test_hang_up_during_the_code(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    event = wait_event(session_factory, asterisk.call("0145678903", "43", hold=0))
    assert event.outcome is CallOutcome.HANGUP_DURING_CODE
    assert event.digits == "43"
    assert event.beneficiary_id == org.ben_b1.id
    assert event.worker_id is None


def test_two_workers_at_one_beneficiary_at_once(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    first = asterisk.call("0145678901", "1234#")
    second = asterisk.call("0145678901", "5678#")
    for channel in (first, second):
        assert wait_event(session_factory, channel).direction is Direction.ARRIVAL
    [visit_1] = visits_of(session_factory, org.worker_a1.id)
    [visit_2] = visits_of(session_factory, org.worker_a2.id)
    assert visit_1.beneficiary_id == visit_2.beneficiary_id == org.ben_a1.id


def test_ari_application_killed_during_calls_loses_no_call(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    # The phones key their code late, and once more later, as a worker would after silence.
    keys = "WWWWWW1234#WWWWWWWWWW1234#"
    channels = [asterisk.call(f"014567890{n}", keys, hold=40) for n in (1, 2, 3)]
    wait_for(
        lambda: {c["id"] for c in asterisk.channels()} >= set(channels) or None, 30, "calls up"
    )
    ivr.kill()
    ivr.start()
    for channel in channels:
        event = wait_event(session_factory, channel)
        assert event.beneficiary_id is not None


def test_ivr_down_calls_take_the_dialplan_path_and_are_replayed(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    ivr.stop()
    wait_for(
        lambda: not asterisk.ari("GET", "/applications").json() or None,
        30,
        "Asterisk to see the application gone",
    )
    channel = asterisk.call("0145678902", "5678#")
    spool = asterisk.dialplan_spool
    wait_for(lambda: spool.exists() and channel in spool.read_text() or None, 60, "spool line")
    assert call_event(session_factory, channel) is None
    ivr.start()
    event = wait_event(session_factory, channel)
    assert event.source is CallSource.DIALPLAN_SPOOL
    assert event.worker_id == org.worker_a2.id
    assert event.beneficiary_id == org.ben_a2.id
    assert event.direction is Direction.ARRIVAL
    assert event.outcome is CallOutcome.RECORDED


def test_asterisk_restarted(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    in_progress = asterisk.call("0145678901", "WWWWWWWWWW1234#", hold=40)
    wait_for(lambda: any(c["id"] == in_progress for c in asterisk.channels()) or None, 30, "up")
    asterisk.provision("restart")
    # The call cut by the restart is recorded as incomplete, with its beneficiary.
    cut = wait_event(session_factory, in_progress)
    assert cut.outcome is CallOutcome.HANGUP_BEFORE_CODE
    assert cut.beneficiary_id == org.ben_a1.id
    wait_for(ivr.events_connected, 120, "the IVR reconnected")
    event = wait_event(session_factory, asterisk.call("0145678901", "1234#"))
    assert event.outcome is CallOutcome.RECORDED
    assert event.direction is Direction.ARRIVAL


def test_database_stopped_during_a_call(asterisk: Asterisk, tmp_path: Path) -> None:
    """A PostgreSQL of its own, really stopped while the call is in progress."""
    from config.database import create_schema
    from ledger.db import make_engine, make_session_factory
    from tests import factories

    repo = Path(__file__).resolve().parents[2]
    # The postgres user must reach the cluster's directory (pytest's tmp is private).
    pgdir = Path(tempfile.mkdtemp(prefix="telegestion-ivr-pg.", dir="/tmp"))
    pgdir.chmod(0o755)
    postgres = [str(repo / "scripts" / "postgres")]
    from tests.ivr.conftest import free_port

    port = str(free_port())
    url = subprocess.run(
        [*postgres, "start", str(pgdir / "data"), port],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    engine = make_engine(url)
    process: IvrProcess | None = None
    try:
        create_schema(engine)
        factory = make_session_factory(engine)
        with factory() as session:
            own = factories.small_org(session)
        asterisk.hang_up_all()
        process = IvrProcess(asterisk, url, tmp_path / "ivr-work")
        process.workdir.mkdir()
        process.start()
        channel = asterisk.call("0145678901", "WWWWWW1234#")
        wait_for(lambda: any(c["id"] == channel for c in asterisk.channels()) or None, 30, "up")
        subprocess.run([*postgres, "stop", str(pgdir / "data")], check=True)
        spool = process.workdir / "ivr" / "ari.spool"
        wait_for(lambda: spool.exists() and channel in spool.read_text() or None, 60, "spooled")
        subprocess.run([*postgres, "start", str(pgdir / "data"), port], check=True)
        event = wait_event(factory, channel)
        assert event.source is CallSource.ARI_SPOOL
        assert event.worker_id == own.worker_a1.id
        assert event.beneficiary_id == own.ben_a1.id
        assert event.direction is Direction.ARRIVAL
        [visit] = visits_of(factory, own.worker_a1.id)
        assert visit.arrival_event_id == event.id
    finally:
        if process is not None:
            process.stop()
        engine.dispose()
        subprocess.run([*postgres, "stop", str(pgdir / "data")], check=False)
        shutil.rmtree(pgdir, ignore_errors=True)


def sipp_call(asterisk: Asterisk, caller: str) -> subprocess.CompletedProcess[str]:
    """One call over real SIP and RTP into the PJSIP trunk endpoint, digits as RFC 4733."""
    from tests.ivr.conftest import free_port

    scenario = Path(__file__).parent / "sipp" / "arrival_1234.xml"
    return subprocess.run(
        ["sipp", f"127.0.0.1:{asterisk.sip_port}", "-sf", str(scenario), "-m", "1", "-l", "1",
         "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port()),
         "-s", "0800123456", "-key", "caller", caller, "-timeout", "90", "-nostdin"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def events_by_caller(factory: sessionmaker[Session], e164: str) -> list[CallEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(CallEvent).where(CallEvent.caller_e164 == e164).order_by(CallEvent.id)
            )
        )


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed")
def test_arrival_then_departure_over_sip(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    first = sipp_call(asterisk, "0145678902")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    [arrival] = wait_for(lambda: events_by_caller(session_factory, "+33145678902"), 60, "arrival")
    assert arrival.direction is Direction.ARRIVAL
    assert arrival.worker_id == org.worker_a1.id
    assert arrival.beneficiary_id == org.ben_a2.id
    assert arrival.called_number == "0800123456"
    second = sipp_call(asterisk, "+33145678902")
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    events = wait_for(
        lambda: (
            len(events_by_caller(session_factory, "+33145678902")) == 2
            and events_by_caller(session_factory, "+33145678902")
        ),
        60,
        "departure",
    )
    assert events[1].direction is Direction.DEPARTURE
    [visit] = visits_of(session_factory, org.worker_a1.id)
    assert visit.status is VisitStatus.COMPLETE


def test_the_readme_test_call_command(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "config.cli", "ivr", "call", "--caller", "01 45 67 89 02",
         "--code", "5678"],
        env=ivr.env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "résultat=recorded sens=arrival" in result.stdout
    [visit] = visits_of(session_factory, org.worker_a2.id)
    assert visit.beneficiary_id == org.ben_a2.id


def test_a_portuguese_worker_hears_portuguese_once_the_code_is_recognised(
    ivr: IvrProcess, asterisk: Asterisk, org: SmallOrg, session_factory: sessionmaker[Session]
) -> None:
    from ledger.models import Worker

    with session_factory() as session:
        session.get_one(Worker, org.worker_a2.id).language = "pt"
        session.commit()
    channel = asterisk.call("0145678902", "5678#")
    event = wait_event(session_factory, channel)
    assert event.direction is Direction.ARRIVAL
    heard = wait_for(
        lambda: (h := ivr.media_played(channel)) and "sound:telegestion/pt/goodbye" in h and h,
        30,
        "the goodbye played",
    )
    # French until the code, Portuguese from it: "Chegada registada às 9 horas e 5".
    assert heard[0] == "sound:telegestion/welcome"
    confirmation = heard[heard.index("sound:telegestion/pt/arrival-recorded") :]
    assert confirmation[1].startswith("sound:telegestion/pt/n-")
    assert confirmation[2] == "sound:telegestion/pt/hours"
    assert confirmation[-1] == "sound:telegestion/pt/goodbye"
    assert not any(m.startswith("sound:telegestion/arrival") for m in heard)
