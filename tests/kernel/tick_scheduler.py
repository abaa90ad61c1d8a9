"""A real scheduler process for tests/kernel/test_leader.py.

The same ``kernel.scheduler.serve`` as ``telegestion scheduler run``, the same
lock, job store and run journal; only its job is a test's own, firing every
three seconds instead of once a day, and saying which process ran it.

    python -m tests.kernel.tick_scheduler DATABASE_URL DATA_DIR
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.scheduler import Scheduler, serve
from ledger.db import make_engine, make_session_factory

EVERY_SECONDS = 3


def tick(ctx: JobContext) -> JobResult:
    return JobResult(RunStatus.SUCCESS, message=f"pid {os.getpid()}")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    url, data_dir = sys.argv[1], Path(sys.argv[2])
    engine = make_engine(url)
    job = ScheduledJob("test.tick", "Tic", {"second": f"*/{EVERY_SECONDS}"}, tick)
    scheduler = Scheduler(
        BackgroundScheduler(), engine, make_session_factory(engine), data_dir, [job]
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    code = serve(scheduler, engine, stop, round_seconds=0.5)
    engine.dispose()
    return code


if __name__ == "__main__":
    sys.exit(main())
