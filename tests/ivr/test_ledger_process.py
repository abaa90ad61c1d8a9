"""The ledger's own process: the same answers as in threads, nothing lost when it dies."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.ledger_process import LedgerProcess
from ivr.services import DatabaseUnavailable, KnownWorker, parse_spool_line
from ivr.spool import Spool
from ledger.models import CallEvent, CallSource
from ledger.service import RecordedCall
from tests.factories import SmallOrg
from tests.ivr.test_services import _record, write_lock_held

AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _channels(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(CallEvent.channel_id).order_by(CallEvent.id)))


def test_reads_and_commits_answer_as_in_threads(
    org: SmallOrg, session_factory: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    ledger = LedgerProcess(database_url, Spool(tmp_path / "ari.spool"))
    try:
        assert ledger.call("candidates_for", "0145678902", None, AT).result(60) == (org.ben_a2.id,)
        known = ledger.call("worker_for", "5678", AT, org.ben_a2.id).result(30)
        assert isinstance(known, KnownWorker) and known.id == org.worker_a2.id
        assert ledger.call("worker_for", "0000", AT, None).result(30) is None
        futures = [ledger.submit(_record(org, f"p-{n}")) for n in range(5)]
        results = [f.result(30) for f in futures]
        assert all(isinstance(r, RecordedCall) and not r.already_recorded for r in results)
        # Each answer says when the child's committer took the event and wrote it.
        assert all(
            f.taken_at is not None and f.written_at is not None and f.taken_at <= f.written_at
            for f in futures
        )
        assert ledger.call("is_recorded", "p-3").result(30) is True
        with pytest.raises(ValueError):
            ledger.call("record_many", [])
    finally:
        ledger.close()
    assert _channels(session_factory) == [f"p-{n}" for n in range(5)]
    assert ledger.process.poll() is not None


def test_a_database_the_child_cannot_reach_spools_and_reads_fail(
    org: SmallOrg, tmp_path: Path
) -> None:
    """The child's Recorder spools the event, as the IVR's did; a read fails as
    DatabaseUnavailable, which the flow takes as going on offline."""
    spool = Spool(tmp_path / "ari.spool")
    ledger = LedgerProcess(f"sqlite:///{tmp_path / 'missing' / 'no.sqlite3'}", spool)
    try:
        with pytest.raises(DatabaseUnavailable):
            ledger.call("candidates_for", "0145678902", None, AT).result(60)
        record = _record(org, "down-1")
        assert ledger.submit(record).result(30) is None
    finally:
        ledger.close()
    [(_, line)] = list(spool.pending())
    spooled = parse_spool_line(line)
    assert spooled.channel_id == "down-1" and spooled.source is CallSource.ARI_SPOOL


def test_a_child_killed_with_an_event_in_hand_loses_nothing(
    org: SmallOrg,
    session_factory: sessionmaker[Session],
    engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    """The child is killed while it waits for the write lock with an event: the
    event is spooled by the IVR's process (answered, nothing lost) and a new
    child serves what comes next."""
    spool = Spool(tmp_path / "ari.spool")
    ledger = LedgerProcess(database_url, spool)
    try:
        assert ledger.call("is_recorded", "none").result(60) is False
        first_child = ledger.process
        with write_lock_held(engine) as blocker:
            held = ledger.submit(_record(org, "k-1"))
            time.sleep(0.3)
            assert not held.done()
            assert first_child.pid is not None
            os.kill(first_child.pid, signal.SIGKILL)
            assert held.result(30) is None
            blocker.rollback()
        _until(lambda: ledger.starts == 2 and not ledger._down)
        assert ledger.submit(_record(org, "k-2")).result(60) is not None
    finally:
        ledger.close()
    [(_, line)] = list(spool.pending())
    assert parse_spool_line(line).channel_id == "k-1"
    assert _channels(session_factory) == ["k-2"]
