"""The IVR's database work per call, without Asterisk: CPU time of each step.

Runs what ``ivr.services.Ledger`` does for one call (who calls, whose code and
which direction, then the event's commit through the group committer's
``record_many``), for arrivals then the departures that close them, on a
SQLite ledger like the bench's (one beneficiary and one worker per caller).
Prints the thread CPU time per call of each step: the commit is the work of
the one commit thread, which the event loop and the readers share the GIL
with (decision 0105). Unit-level: compare two versions of the code on one
machine, one right after the other.

    .venv/bin/python -m bench.ivr.ledger_path [--calls 2000] [--batch 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.database import create_schema
from ivr.services import Ledger, identification
from ledger.db import make_engine, make_session_factory
from ledger.models import CallOutcome, CallSource
from ledger.pairing import Direction, Inference
from ledger.service import CallRecord
from tests import factories
from tests.ivr.sipload import distinct_codes

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.thread_time()
    result = fn()
    return result, time.thread_time() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8, help="events per group commit")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ledger-path."))
    engine = make_engine(f"sqlite:///{work / 'bench.sqlite3'}")
    create_schema(engine)
    factory = make_session_factory(engine)
    callers: list[tuple[str, str]] = []
    with factory() as session:
        antenna = factories.antenna(session, "BENCH")
        for n, code in enumerate(distinct_codes(args.calls, seed=17)):
            number = f"+3314{n:07d}"
            factories.beneficiary(session, antenna, (number,))
            factories.worker(session, antenna, code)
            callers.append(("0" + number[3:], code))
        session.commit()
    ledger = Ledger(factory)
    steps: dict[str, list[float]] = {"identify": [], "worker+direction": [], "commit": []}
    for leg, direction in ((0, Direction.ARRIVAL), (1, Direction.DEPARTURE)):
        at = T0 + timedelta(hours=leg)
        pending: list[CallRecord] = []
        for n, (caller, code) in enumerate(callers):
            candidates, cpu = timed(lambda c=caller, t=at: ledger.candidates_for(c, None, t))
            steps["identify"].append(cpu)
            (ben,) = candidates
            worker, cpu = timed(lambda c=code, b=ben, t=at: ledger.worker_for(c, t, b))
            steps["worker+direction"].append(cpu)
            assert worker is not None and worker.inferred is Inference(direction.value)
            pending.append(
                CallRecord(
                    channel_id=f"c{leg}-{n}",
                    received_at=at - timedelta(seconds=1),
                    answered_at=at,
                    caller_raw=caller,
                    ani_raw=None,
                    called_number="0800123456",
                    digits=code,
                    code_completed_at=at + timedelta(seconds=5),
                    beneficiary_id=ben,
                    worker_id=worker.id,
                    identification=identification(caller, ben, code, worker.id),
                    direction=direction,
                    outcome=CallOutcome.RECORDED,
                    source=CallSource.ARI,
                )
            )
            if len(pending) == args.batch or n == len(callers) - 1:
                batch = pending
                done, cpu = timed(lambda b=batch: ledger.record_many(b))
                assert all(r.visit_id is not None for r in done)
                steps["commit"] += [cpu / len(batch)] * len(batch)
                pending = []
    engine.dispose()
    print(f"{len(callers)} arrivals and {len(callers)} departures, commits of {args.batch}")
    print(f"{'step':18} {'cpu ms/call p50':>15} {'mean':>8}")
    for name, values in steps.items():
        ms = [v * 1000 for v in values]
        print(f"{name:18} {statistics.median(ms):15.2f} {statistics.fmean(ms):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
