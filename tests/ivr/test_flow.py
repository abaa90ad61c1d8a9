"""The call flow's states, driven by ARI events recorded from the real Asterisk."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.flow import Call, Flow, FlowConfig, Services
from ivr.services import Ledger, Recorder
from ivr.spool import Spool
from ledger.models import CallEvent, CallOutcome, Identification
from ledger.pairing import Direction
from tests.factories import SmallOrg
from tests.ivr.replay import RecordedChannel, ScriptedChannel, recorded

CONFIG = FlowConfig(first_digit_timeout=0.3, inter_digit_timeout=0.2)


def services(factory: sessionmaker[Session], tmp_path: Path) -> Services:
    ledger = Ledger(factory)
    return Services(ledger, Recorder(ledger, Spool(tmp_path / "ari.spool")), None)


def run_call(channel: object, caller: str | None, svc: Services) -> Call:
    call = Call(
        channel=channel,  # type: ignore[arg-type]
        received_at=datetime.now(UTC),
        caller=caller,
        ani=caller,
        called="0800123456",
    )
    asyncio.run(Flow(call, svc, CONFIG).run())
    return call


def event_of(factory: sessionmaker[Session], channel_id: str) -> CallEvent:
    with factory() as session:
        event = session.scalars(select(CallEvent).where(CallEvent.channel_id == channel_id)).one()
    return event


def test_wrong_then_right_code_is_committed_before_the_confirmation(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    seen_at_confirmation: list[bool] = []

    def on_play(media: Sequence[str]) -> None:
        if "sound:telegestion/arrival-recorded" in media:
            with session_factory() as session:
                found = session.scalars(
                    select(CallEvent).where(CallEvent.channel_id == "rec-2")
                ).first()
            seen_at_confirmation.append(found is not None)

    channel = RecordedChannel("rec-2", recorded("wrong_then_right_code.json"), on_play)
    call = run_call(channel, "01 45 67 89 02", services(session_factory, tmp_path))
    event = event_of(session_factory, "rec-2")
    assert event.digits == "9999,5678"
    assert event.worker_id == org.worker_a2.id
    assert event.beneficiary_id == org.ben_a2.id
    assert event.identification is Identification.OK
    assert event.direction is Direction.ARRIVAL
    assert event.outcome is CallOutcome.RECORDED
    assert seen_at_confirmation == [True]
    assert channel.actions[0] == ("answer", None)
    assert channel.actions[-1] == ("hangup", None)
    assert any(a[0] == "play" and "sound:telegestion/code-wrong" in a[1] for a in channel.actions)
    assert call.code_completed_at is not None


def test_three_wrong_codes_are_recorded_as_too_many_attempts(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    channel = ScriptedChannel("three-wrong")
    channel.key("1111#2222#3333#")
    run_call(channel, "+33145678901", services(session_factory, tmp_path))
    event = event_of(session_factory, "three-wrong")
    assert event.outcome is CallOutcome.TOO_MANY_ATTEMPTS
    assert event.identification is Identification.UNKNOWN_WORKER
    assert event.digits == "1111,2222,3333"
    assert event.beneficiary_id == org.ben_a1.id


def test_hang_up_during_the_code_keeps_what_was_known(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    channel = ScriptedChannel("hangup-code")
    channel.key("9999#12")
    channel.events.put_nowait({"type": "ChannelHangupRequest", "channel": {"id": "hangup-code"}})
    run_call(channel, "0033 1 45 67 89 01", services(session_factory, tmp_path))
    event = event_of(session_factory, "hangup-code")
    assert event.outcome is CallOutcome.HANGUP_DURING_CODE
    assert event.beneficiary_id == org.ben_a1.id
    assert event.digits == "9999,12"


def test_withheld_number_is_recorded_unidentified_with_the_worker(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    channel = ScriptedChannel("withheld")
    channel.key("1234#2")
    run_call(channel, "anonymous", services(session_factory, tmp_path))
    event = event_of(session_factory, "withheld")
    assert event.identification is Identification.WITHHELD_NUMBER
    assert event.beneficiary_id is None
    assert event.worker_id == org.worker_a1.id
    assert event.direction is Direction.DEPARTURE
    assert event.outcome is CallOutcome.RECORDED


def test_database_down_spools_and_confirms_the_same(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from ivr.services import replay
    from ledger.db import make_engine, make_session_factory

    broken = make_session_factory(make_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"))
    spool = Spool(tmp_path / "ari.spool")
    svc = Services(Ledger(broken), Recorder(Ledger(broken), spool), None)
    channel = ScriptedChannel("db-down")
    channel.key("1234#")
    run_call(channel, "0145678901", svc)
    played = [a[1] for a in channel.actions if a[0] == "play"]
    assert "sound:telegestion/degraded-recorded" in played[-1]
    assert spool.has_pending()
    loaded = replay(Ledger(session_factory), spool, dialplan=False)
    assert loaded == 1
    event = event_of(session_factory, "db-down")
    assert event.worker_id == org.worker_a1.id
    assert event.beneficiary_id == org.ben_a1.id
    assert event.direction is Direction.ARRIVAL
    assert event.source.value == "ari_spool"
    assert not spool.has_pending()


def test_the_welcome_does_not_wait_for_the_identification(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The number's lookup may only go on once the welcome has started playing: a
    flow that waited for the lookup before its first prompt would never play it,
    the lookup would give up, and the call would not reach the ledger."""
    welcome_started = threading.Event()

    class GatedLedger(Ledger):
        def candidates_for(self, *args: Any) -> tuple[int, ...]:
            if not welcome_started.wait(5):
                raise RuntimeError("the welcome never started")
            return super().candidates_for(*args)

    class Phone(ScriptedChannel):
        async def play(self, media: Sequence[str], playback_id: str | None = None) -> str:
            if "sound:telegestion/welcome" in media:
                welcome_started.set()
            return await super().play(media, playback_id)

    ledger = GatedLedger(session_factory)
    svc = Services(ledger, Recorder(ledger, Spool(tmp_path / "ari.spool")), None)
    channel = Phone("welcome-first")
    channel.key("1234#")
    run_call(channel, "0145678901", svc)
    event = event_of(session_factory, "welcome-first")
    assert event.beneficiary_id == org.ben_a1.id
    assert event.worker_id == org.worker_a1.id
    assert event.outcome is CallOutcome.RECORDED
