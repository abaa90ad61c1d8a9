"""Two real scheduler processes: each run happens once, and the standby takes over.

On PostgreSQL (``TELEGESTION_TEST_DATABASE_URL``) the lock is the advisory lock;
on SQLite the lock file. The run journal is the witness.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel import leader
from kernel.runs import JobRun
from ledger.timeutil import as_utc
from tests.ivr.conftest import wait_for
from tests.kernel.tick_scheduler import EVERY_SECONDS

REPO = Path(__file__).resolve().parents[2]


class Processes:
    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.kernel.tick_scheduler",
                self.database_url,
                str(self.data_dir),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def processes(database_url: str, engine: object, tmp_path: Path) -> Iterator[Processes]:
    found = Processes(database_url, tmp_path)
    yield found
    found.stop_all()


def runs(factory: sessionmaker[Session]) -> list[JobRun]:
    with factory() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def roles(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as session:
        return {row.holder: row.role for row in session.scalars(select(leader.Heartbeat))}


def assert_each_fire_ran_once(found: list[JobRun]) -> None:
    # Fire times are multiples of EVERY_SECONDS since the epoch (60 is a multiple).
    slots = Counter(int(as_utc(r.started_at).timestamp()) // EVERY_SECONDS for r in found)
    twice = {slot: n for slot, n in slots.items() if n > 1}
    assert not twice, [(r.started_at, r.message) for r in found]


def test_two_schedulers_run_each_job_once_and_the_standby_takes_over(
    processes: Processes, session_factory: sessionmaker[Session]
) -> None:
    first = processes.start("first")
    wait_for(lambda: f":{first.pid}" in "".join(roles(session_factory)), 30, "first heartbeat")
    second = processes.start("second")

    def both_beat() -> dict[str, str] | None:
        found = roles(session_factory)
        by_pid = {holder.rsplit(":", 1)[1]: role for holder, role in found.items()}
        return found if {str(first.pid), str(second.pid)} <= by_pid.keys() else None

    by_holder = wait_for(both_beat, 30, "both heartbeats")
    by_pid = {holder.rsplit(":", 1)[1]: role for holder, role in by_holder.items()}
    assert by_pid == {str(first.pid): leader.ACTIVE, str(second.pid): leader.STANDBY}

    wait_for(lambda: len(runs(session_factory)) >= 5, 60, "five runs")
    before = runs(session_factory)
    assert {r.message for r in before} == {f"pid {first.pid}"}
    assert_each_fire_ran_once(before)

    first.kill()  # no goodbye: the lock goes with the process (or its connection)
    first.wait(10)
    wait_for(
        lambda: sum(r.message == f"pid {second.pid}" for r in runs(session_factory)) >= 3,
        60,
        "the standby took over",
    )
    after = runs(session_factory)
    assert {r.message for r in after} == {f"pid {first.pid}", f"pid {second.pid}"}
    assert_each_fire_ran_once(after)
    # The runs of the second all come after the first's last one.
    last_first = max(r.id for r in after if r.message == f"pid {first.pid}")
    assert all(r.id > last_first for r in after if r.message == f"pid {second.pid}")
    assert (
        roles(session_factory)[
            next(h for h in roles(session_factory) if h.endswith(f":{second.pid}"))
        ]
        == leader.ACTIVE
    )
