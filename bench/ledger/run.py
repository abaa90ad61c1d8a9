"""Ledger benchmark: bulk ingest + pairing of call events, and the IVR's durable commit.

    .venv/bin/python -m bench.ledger.run [--events 1000000] [--commits 500] [--postgres]

For each database (a SQLite file; PostgreSQL with --postgres, started by
scripts/postgres) it prints:
  * ingest: call events stored and paired into visits per second, against a
    baseline in the same run: the same rows inserted into a bare table with no
    index, constraint, trigger or pairing (the storage ceiling);
  * commit: p50/p99 latency of one durable single-event commit through
    ``ledger.service.record_call`` (the IVR's path), against a baseline of one
    bare INSERT + COMMIT on the same database.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from config.database import create_schema
from ledger import service
from ledger.db import make_engine
from ledger.models import (
    Antenna,
    Base,
    Beneficiary,
    CallOutcome,
    CallSource,
    Civility,
    Identification,
    VisitStatus,
    Worker,
)
from ledger.pairing import CallFact, Direction, pair_calls
from ledger.timeutil import paris_date

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
TABLES = Base.metadata.tables


def _organisation(session: Session, workers: int, beneficiaries: int) -> None:
    session.add(Antenna(id=1, code="BENCH", name="Bench"))
    session.flush()
    session.execute(
        insert(Worker),
        [
            {
                "id": i,
                "external_id": f"W{i}",
                "civility": Civility.MRS,
                "last_name": "W",
                "first_name": "W",
                "antenna_id": 1,
                "phone_code": f"{i:06d}",
                "active_from": T0.date(),
            }
            for i in range(1, workers + 1)
        ],
    )
    session.execute(
        insert(Beneficiary),
        [
            {
                "id": i,
                "external_id": f"B{i}",
                "civility": Civility.MR,
                "last_name": "B",
                "first_name": "B",
                "address": "x",
                "antenna_id": 1,
                "care_start": T0.date(),
            }
            for i in range(1, beneficiaries + 1)
        ],
    )
    session.commit()


def _events(n: int, workers: int, beneficiaries: int) -> list[dict[str, Any]]:
    """Arrival/departure pairs, each worker going from home to home."""
    rng = random.Random(1)
    rows: list[dict[str, Any]] = []
    clock = {w: T0 for w in range(1, workers + 1)}
    event_id = 0
    while len(rows) < n:
        worker = rng.randrange(1, workers + 1)
        ben = rng.randrange(1, beneficiaries + 1)
        start = clock[worker] + timedelta(minutes=rng.randrange(10, 60))
        end = start + timedelta(minutes=rng.randrange(30, 120))
        clock[worker] = end
        for at, direction in ((start, Direction.ARRIVAL), (end, Direction.DEPARTURE)):
            event_id += 1
            rows.append(
                {
                    "id": event_id,
                    "channel_id": f"bench-{event_id}",
                    "received_at": at,
                    "answered_at": at,
                    "code_completed_at": at,
                    "caller_raw": "0145678901",
                    "caller_e164": "+33145678901",
                    "ani_raw": None,
                    "called_number": "0800",
                    "digits": "123456",
                    "beneficiary_id": ben,
                    "worker_id": worker,
                    "antenna_id": 1,
                    "identification": Identification.OK,
                    "direction": direction,
                    "outcome": CallOutcome.RECORDED,
                    "source": CallSource.ARI,
                    "recorded_at": at,
                }
            )
    return rows[:n]


def bench_ingest(engine: Engine, rows: list[dict[str, Any]]) -> tuple[float, float, int]:
    chunk = 20_000
    # Baseline: the same rows in a bare table.
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_bare"))
        conn.execute(
            text(
                "CREATE TABLE bench_bare (id BIGINT, channel_id VARCHAR(64), "
                "answered_at TIMESTAMP, worker_id INTEGER, beneficiary_id INTEGER, "
                "direction VARCHAR(16), digits VARCHAR(32))"
            )
        )
    bare = [
        {
            "id": r["id"],
            "channel_id": r["channel_id"],
            "answered_at": r["answered_at"],
            "worker_id": r["worker_id"],
            "beneficiary_id": r["beneficiary_id"],
            "direction": r["direction"].value,
            "digits": r["digits"],
        }
        for r in rows
    ]
    started = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(bare), chunk):
            conn.execute(
                text(
                    "INSERT INTO bench_bare VALUES (:id, :channel_id, :answered_at, :worker_id, "
                    ":beneficiary_id, :direction, :digits)"
                ),
                bare[i : i + chunk],
            )
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    # Core inserts: the ORM's per-row bookkeeping costs a third here and buys nothing.
    with engine.begin() as conn:
        for i in range(0, len(rows), chunk):
            conn.execute(insert(TABLES["call_events"]), rows[i : i + chunk])
        facts = [
            CallFact(r["id"], r["worker_id"], r["beneficiary_id"], r["answered_at"], r["direction"])
            for r in rows
        ]
        visits = pair_calls(facts)
        visit_rows, version_rows = [], []
        for vid, v in enumerate(visits, start=1):
            status = VisitStatus.COMPLETE if v.is_complete else VisitStatus.INCOMPLETE
            anchor = v.started_at or v.ended_at
            assert anchor is not None
            visit_rows.append(
                {
                    "id": vid,
                    "worker_id": v.worker_id,
                    "beneficiary_id": v.beneficiary_id,
                    "antenna_id": 1,
                    "arrival_event_id": v.arrival_event_id,
                    "departure_event_id": v.departure_event_id,
                    "started_at": v.started_at,
                    "ended_at": v.ended_at,
                    "service_date": paris_date(anchor),
                    "status": status,
                    "service_code": None,
                    "version": 1,
                }
            )
            version_rows.append(
                {
                    "visit_id": vid,
                    "version": 1,
                    "started_at": v.started_at,
                    "ended_at": v.ended_at,
                    "status": status,
                    "motive": None,
                    "comment": "",
                    "author": "bench",
                }
            )
        for i in range(0, len(visit_rows), chunk):
            conn.execute(insert(TABLES["visits"]), visit_rows[i : i + chunk])
            conn.execute(insert(TABLES["visit_versions"]), version_rows[i : i + chunk])
    ledger_time = time.perf_counter() - started
    return ledger_time, baseline, len(visits)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def bench_commits(
    engine: Engine, commits: int, workers: int, beneficiaries: int, first_id: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    rng = random.Random(2)
    ledger_samples: list[float] = []
    base = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
    for i in range(commits):
        at = base + timedelta(minutes=i)
        record = service.CallRecord(
            channel_id=f"live-{first_id + i}",
            received_at=at,
            answered_at=at,
            caller_raw="0145678901",
            ani_raw=None,
            called_number="0800",
            digits="123456",
            code_completed_at=at,
            beneficiary_id=rng.randrange(1, beneficiaries + 1),
            worker_id=rng.randrange(1, workers + 1),
            identification=Identification.OK,
            direction=rng.choice(list(Direction)),
            outcome=CallOutcome.RECORDED,
        )
        started = time.perf_counter()
        with Session(engine) as session, session.begin():
            service.record_call(session, record)
        ledger_samples.append(time.perf_counter() - started)
    bare_samples: list[float] = []
    with engine.connect() as conn:
        for i in range(commits):
            started = time.perf_counter()
            conn.execute(
                text("INSERT INTO bench_bare (id, channel_id) VALUES (:id, :c)"),
                {"id": -i, "c": f"bare-{i}"},
            )
            conn.commit()
            bare_samples.append(time.perf_counter() - started)
    return _percentiles(ledger_samples), _percentiles(bare_samples)


def run_one(label: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    create_schema(engine)
    with Session(engine) as session:
        _organisation(session, args.workers, args.beneficiaries)
    rows = _events(args.events, args.workers, args.beneficiaries)
    ledger_time, baseline, visits = bench_ingest(engine, rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("call_events", "visits"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    (l50, l99), (b50, b99) = bench_commits(
        engine, args.commits, args.workers, args.beneficiaries, args.events
    )
    n = len(rows)
    print(
        f"[{label}] ingest+pair {n:,} call events -> {visits:,} visits: "
        f"{ledger_time:.1f} s, {n / ledger_time:,.0f} events/s "
        f"(baseline bare insert {n / baseline:,.0f} rows/s; ledger/baseline = "
        f"{baseline / ledger_time:.2f})"
    )
    print(
        f"[{label}] durable single-event commit via record_call ({args.commits} calls): "
        f"p50 {l50:.2f} ms, p99 {l99:.2f} ms (baseline bare INSERT+COMMIT p50 {b50:.2f} ms, "
        f"p99 {b99:.2f} ms)"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--workers", type=int, default=33_000)
    parser.add_argument("--beneficiaries", type=int, default=210_000)
    parser.add_argument(
        "--postgres", action="store_true", help="also run on a throwaway PostgreSQL"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_one("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args)
        if args.postgres:
            # Not under /tmp's private dir: the postgres user must reach it.
            pgdir = ROOT / "var" / "bench-postgres"
            url = subprocess.check_output(
                [str(ROOT / "scripts" / "postgres"), "start", str(pgdir), "55499"], text=True
            ).strip()
            try:
                run_one("postgresql", url, args)
            finally:
                subprocess.run(
                    [str(ROOT / "scripts" / "postgres"), "stop", str(pgdir)], check=False
                )
                shutil.rmtree(pgdir, ignore_errors=True)


if __name__ == "__main__":
    main()
