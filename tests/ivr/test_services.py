"""Spools and the replayer: durable lines, idempotent loading, nothing dropped silently."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.services import GroupCommitter, Ledger, Recorder, parse_dialplan_line, replay
from ivr.spool import Spool
from ledger.models import CallEvent, CallOutcome, CallSource, Identification
from ledger.pairing import Direction
from ledger.service import CallRecord, RecordedCall
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


def _record(org: SmallOrg, channel_id: str, worker_id: int | None = None) -> CallRecord:
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    return CallRecord(
        channel_id=channel_id,
        received_at=at,
        answered_at=at,
        caller_raw="0145678902",
        ani_raw=None,
        called_number="0800123456",
        digits="5678",
        code_completed_at=at,
        beneficiary_id=org.ben_a2.id,
        worker_id=worker_id if worker_id is not None else org.worker_a2.id,
        identification=Identification.OK,
        direction=Direction.ARRIVAL,
        outcome=CallOutcome.RECORDED,
    )


@contextmanager
def write_lock_held(engine: Engine) -> Iterator[Connection]:
    """The ledger's write lock held by another connection until ``rollback``."""
    with engine.connect() as blocker:
        if engine.dialect.name == "sqlite":
            blocker.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            blocker.exec_driver_sql("BEGIN")
            blocker.exec_driver_sql("LOCK TABLE call_events IN ACCESS EXCLUSIVE MODE")
        yield blocker


def test_events_waiting_for_a_commit_share_the_next_one(
    org: SmallOrg, session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    """While the ledger's write lock is held elsewhere, events queue; once it is
    released the first commits alone and the others together, each future
    resolved only once its event can be read back."""
    ledger = Ledger(session_factory)
    committer = GroupCommitter(Recorder(ledger, Spool(tmp_path / "ari.spool")))
    try:
        with write_lock_held(engine) as blocker:
            first = committer.submit(_record(org, "g-0"))
            # Let the committer take the first event and block on the lock.
            deadline = time.monotonic() + 10
            while not committer.batches and time.monotonic() < deadline:
                time.sleep(0.01)
            rest = [committer.submit(_record(org, f"g-{n}")) for n in range(1, 5)]
            time.sleep(0.2)
            assert not first.done() and not any(f.done() for f in rest)
            blocker.rollback()
        results = [f.result(30) for f in [first, *rest]]
    finally:
        committer.close()
    assert list(committer.batches) == [1, 4]
    assert all(isinstance(r, RecordedCall) and not r.already_recorded for r in results)
    with session_factory() as session:
        channels = session.scalars(select(CallEvent.channel_id).order_by(CallEvent.id)).all()
    assert channels == [f"g-{n}" for n in range(5)]


def test_a_refused_event_does_not_take_the_others_of_its_group_down(
    org: SmallOrg, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """One event the database refuses (a worker that does not exist): the group's
    transaction fails, the others are then committed one by one, the refused
    one goes to the spool as it would alone."""
    spool = Spool(tmp_path / "ari.spool")
    recorder = Recorder(Ledger(session_factory), spool)
    results = recorder.record_batch(
        [_record(org, "b-1"), _record(org, "b-2", worker_id=999_999), _record(org, "b-3")]
    )
    assert results[0] is not None and results[2] is not None
    assert results[1] is None
    [(_, line)] = list(spool.pending())
    assert '"channel_id": "b-2"' in line
    with session_factory() as session:
        channels = session.scalars(select(CallEvent.channel_id).order_by(CallEvent.id)).all()
    assert channels == ["b-1", "b-3"]
