"""Spools and the replayer: durable lines, idempotent loading, nothing dropped silently."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.services import Ledger, parse_dialplan_line, replay
from ivr.spool import Spool
from ledger.models import CallEvent, CallOutcome, CallSource, Identification
from ledger.pairing import Direction
from tests.factories import SmallOrg

LINE = "v1|1795449911.42|1795449911.204|1795449911.705|1795449913.129|0145678902|||5678|confirmed"


def test_dialplan_line_is_identified_at_replay(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "dialplan.spool")
    spool.append(LINE)
    spool.append("v1|1795449999.1|1795449990.0|1795449991.0||||||answered")
    assert replay(Ledger(session_factory), spool, dialplan=True) == 2
    with session_factory() as session:
        recorded = session.scalars(select(CallEvent).order_by(CallEvent.id)).all()
    assert [e.channel_id for e in recorded] == ["1795449911.42", "1795449999.1"]
    first, second = recorded
    assert first.source is CallSource.DIALPLAN_SPOOL
    assert first.worker_id == org.worker_a2.id
    assert first.beneficiary_id == org.ben_a2.id
    assert first.direction is Direction.ARRIVAL
    assert first.outcome is CallOutcome.RECORDED
    assert second.identification is Identification.WITHHELD_NUMBER
    assert second.outcome is CallOutcome.HANGUP_BEFORE_CODE


def test_replaying_twice_loads_once(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "dialplan.spool")
    spool.append(LINE)
    ledger = Ledger(session_factory)
    assert replay(ledger, spool, dialplan=True) == 1
    spool.mark(0)  # as if the offset had not been saved before a crash
    assert replay(ledger, spool, dialplan=True) == 1
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(CallEvent)) == 1


def test_unreadable_and_half_written_lines(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "dialplan.spool")
    spool.append("garbage")
    with spool.path.open("a") as handle:
        handle.write(LINE[:30])  # Asterisk is still writing this one
    assert replay(Ledger(session_factory), spool, dialplan=True) == 0
    assert "garbage" in spool.rejected_path.read_text()
    assert spool.has_pending()
    with spool.path.open("a") as handle:
        handle.write(LINE[30:] + "\n")
    assert replay(Ledger(session_factory), spool, dialplan=True) == 1
    assert not spool.has_pending()


def test_parse_refuses_other_versions() -> None:
    try:
        parse_dialplan_line(LINE.replace("v1|", "v2|", 1))
    except ValueError:
        return
    raise AssertionError("a v2 line was accepted")
