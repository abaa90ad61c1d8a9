"""Watchdog benchmark: the cost of one round of checks, beside a bare database ping.

    .venv/bin/python -m bench.watchdog.run [--rounds 50] [--runs 20000]

An embedded SQLite in a temporary folder with ``--runs`` rows of run journal
spread over every job and ``--runs`` call events' worth of index (one call per
row of the journal), no IVR listening (its check fails fast on a refused
connection) and no mail (no recipients). Prints p50/p95 of a full round
(``Watchdog.results`` plus ``Alerter.observe``) and, as the baseline in the same
process, of ``SELECT 1`` through the same session factory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from config.database import create_schema
from config.jobs import collect_jobs
from config.watchdog import Targets, Watchdog
from kernel.alerts import Alerter, AlertSettings
from kernel.jobs import RunStatus
from kernel.runs import JobRun
from ledger.db import make_engine, make_session_factory
from ledger.timeutil import utc_now


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        engine = make_engine(f"sqlite:///{data_dir / 'bench.sqlite3'}")
        create_schema(engine)
        factory = make_session_factory(engine)
        jobs = collect_jobs()
        now = utc_now()
        with factory() as session, session.begin():
            session.add_all(
                JobRun(
                    job_name=jobs[i % len(jobs)].name,
                    label=jobs[i % len(jobs)].label,
                    started_at=now - timedelta(minutes=args.runs - i),
                    finished_at=now - timedelta(minutes=args.runs - i),
                    status=RunStatus.SUCCESS,
                    triggered_by="scheduler",
                    counts={},
                    files=[],
                    params={},
                    message="",
                )
                for i in range(args.runs)
            )
        settings = AlertSettings()
        targets = Targets("http://127.0.0.1:9/health", (), data_dir / "archive", tuple(jobs))
        dog = Watchdog(settings, factory, targets, Alerter(settings, factory, "Bench"))
        baseline, rounds = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            with factory() as session:
                session.execute(text("SELECT 1"))
            baseline.append(time.perf_counter() - start)
            start = time.perf_counter()
            dog.round()
            rounds.append(time.perf_counter() - start)
        print(f"{args.runs} journal rows, {len(jobs)} jobs, {args.rounds} rounds (SQLite)")
        print(f"baseline SELECT 1       {_figures(baseline)}")
        print(f"watchdog round          {_figures(rounds)}")
        engine.dispose()


if __name__ == "__main__":
    main()
