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
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Enum, MetaData, String, Table, insert, inspect, text
from sqlalchemy.orm import Session

from config.database import create_schema
from ledger import service
from ledger.bulk import bulk_record_calls, visit_rows, write_rows
from ledger.db import make_engine
from ledger.models import (
    Antenna,
    Base,
    Beneficiary,
    CallOutcome,
    CallSource,
    Civility,
    Identification,
    Worker,
)
from ledger.pairing import CallFact, Direction

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


@dataclass
class Timing:
    """Wall time, this process's CPU time, and the database server's (PostgreSQL)."""

    wall: float
    cpu: float
    server_cpu: float | None

    def __str__(self) -> str:
        server = "" if self.server_cpu is None else f", server CPU {self.server_cpu:.1f} s"
        return f"{self.wall:.1f} s (CPU {self.cpu:.1f} s{server})"

    @property
    def all_cpu(self) -> float:
        """This process's CPU and the server's: the whole work, whatever the machine's load."""
        return self.cpu + (self.server_cpu or 0.0)


def _server_cpu(conn: Any) -> float | None:
    """CPU seconds of this connection's PostgreSQL backend, read from /proc (same machine)."""
    if conn.dialect.name != "postgresql":
        return None
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _timed(session: Session, into: list[Timing]) -> Iterator[None]:
    conn = session.connection()
    server, cpu, wall = _server_cpu(conn), time.process_time(), time.perf_counter()
    yield
    server_after = _server_cpu(conn)
    into.append(
        Timing(
            time.perf_counter() - wall,
            time.process_time() - cpu,
            None if server is None or server_after is None else server_after - server,
        )
    )


def _bare_table(name: str, like: Table) -> Table:
    """``like``'s columns and types with no key, index, constraint or trigger."""
    return Table(
        name,
        MetaData(),
        *(Column(c.name, String(32) if isinstance(c.type, Enum) else c.type) for c in like.columns),
    )


LEDGER_TABLES = ("call_events", "visits", "visit_versions")


def _schema_drops(engine: Engine) -> tuple[list[str], list[str]]:
    """DROP statements for the ledger tables' indexes that enforce nothing, and for
    their foreign keys."""
    found = inspect(engine)
    indexes = [
        f"DROP INDEX {index['name']}"
        for table in LEDGER_TABLES
        for index in found.get_indexes(table)
        if not index["unique"]
    ]
    keys = [
        f"ALTER TABLE {table} DROP CONSTRAINT {key['name']}"
        for table in LEDGER_TABLES
        for key in found.get_foreign_keys(table)
    ]
    return indexes, keys


def bench_ingest(
    engine: Engine, rows: list[dict[str, Any]]
) -> tuple[Timing, Timing, Timing, int, dict[str, Timing]]:
    """(ingest, baseline, legacy baseline, visits made, the decomposition).

    Ingest is ``ledger.bulk.bulk_record_calls`` on the whole stream in one
    transaction: the call events, their pairing, the visits and their first
    versions. The baseline is the same rows (every column of ``call_events``)
    written by the same writer (``ledger.bulk.write_rows``: COPY on
    PostgreSQL, multi-row INSERTs on SQLite) into a bare table, in one
    transaction. The legacy baseline is the one this bench printed before:
    seven of the columns through SQLAlchemy's executemany.

    The decomposition, to tell the schema's price from the code's: every row
    the ingest writes (events, visits, versions, paired beforehand) by the same
    writer into bare tables (``bare_all``); the events alone into the ledger's
    own ``call_events`` (``schema_events``), then the visits and versions into
    theirs (``schema_visits``), rolled back; and the floors the ledger's
    integrity sets (``floor_keys``: without the secondary indexes;
    ``floor_no_fk``, PostgreSQL: without the foreign keys either).
    """
    bare_table = _bare_table("bench_bare", TABLES["call_events"])
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_bare"))
        conn.execute(text("DROP TABLE IF EXISTS bench_bare7"))
        bare_table.create(conn)
        conn.execute(
            text(
                "CREATE TABLE bench_bare7 (id BIGINT, channel_id VARCHAR(64), "
                "answered_at TIMESTAMP, worker_id INTEGER, beneficiary_id INTEGER, "
                "direction VARCHAR(16), digits VARCHAR(32))"
            )
        )
    bare_visits = _bare_table("bench_bare_visits", TABLES["visits"])
    bare_versions = _bare_table("bench_bare_versions", TABLES["visit_versions"])
    with engine.begin() as conn:
        for table in (bare_visits, bare_versions):
            conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
            table.create(conn)
    facts = [
        CallFact(r["id"], r["worker_id"], r["beneficiary_id"], r["answered_at"], r["direction"])
        for r in rows
    ]
    with Session(engine) as session:
        planned = visit_rows(session, facts, author="bench")
    extra: dict[str, Timing] = {}
    # Every row the ingest writes (events, visits, versions), bare tables.
    timings: list[Timing] = []
    with Session(engine) as session, session.begin(), _timed(session, timings):
        write_rows(session, bare_table, rows)
        write_rows(session, bare_visits, planned.visits)
        write_rows(session, bare_versions, planned.versions)
    extra["bare_all"] = timings.pop()
    # The same rows into the ledger's own tables (keys, indexes, foreign keys,
    # checks, triggers), then rolled back: the schema's price without pairing.
    with Session(engine) as session:
        session.begin()
        with _timed(session, timings):
            write_rows(session, TABLES["call_events"], rows)
        extra["schema_events"] = timings.pop()
        with _timed(session, timings):
            write_rows(session, TABLES["visits"], planned.visits)
            write_rows(session, TABLES["visit_versions"], planned.versions)
        extra["schema_visits"] = timings.pop()
        session.rollback()
    # The floor the ledger's integrity sets: the same rows into its tables
    # with their secondary indexes dropped (what the pages and flows read
    # through), keys, unique keys, foreign keys and checks kept; and, on
    # PostgreSQL, without the foreign keys either. Dropped in the transaction
    # and rolled back with the rows: the schema is left as it was.
    indexes, keys = _schema_drops(engine)
    floors = {"floor_keys": indexes}
    if engine.dialect.name == "postgresql":
        floors["floor_no_fk"] = indexes + keys
    for name, drops in floors.items():
        with Session(engine) as session:
            session.begin()
            if engine.dialect.name == "sqlite":
                # pysqlite opens its transaction at the first INSERT only: DDL
                # before it would be committed at once.
                session.connection().exec_driver_sql("BEGIN")
            for statement in drops:
                session.execute(text(statement))
            with _timed(session, timings):
                write_rows(session, TABLES["call_events"], rows)
                write_rows(session, TABLES["visits"], planned.visits)
                write_rows(session, TABLES["visit_versions"], planned.versions)
            extra[name] = timings.pop()
            session.rollback()
    del planned

    with Session(engine) as session, session.begin(), _timed(session, timings):
        write_rows(session, bare_table, rows)

    with Session(engine) as session, session.begin(), _timed(session, timings):
        facts = [
            CallFact(r["id"], r["worker_id"], r["beneficiary_id"], r["answered_at"], r["direction"])
            for r in rows
        ]
        result = bulk_record_calls(session, rows, facts, author="bench")

    chunk = 20_000
    with Session(engine) as session, session.begin(), _timed(session, timings):
        bare7 = [
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
        for i in range(0, len(bare7), chunk):
            session.execute(
                text(
                    "INSERT INTO bench_bare7 VALUES (:id, :channel_id, :answered_at, :worker_id, "
                    ":beneficiary_id, :direction, :digits)"
                ),
                bare7[i : i + chunk],
            )
    baseline, ingest, legacy = timings
    return ingest, baseline, legacy, result.visits, extra


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
    ingest, baseline, legacy, visits, extra = bench_ingest(engine, rows)
    (l50, l99), (b50, b99) = bench_commits(
        engine, args.commits, args.workers, args.beneficiaries, args.events
    )
    n = len(rows)
    print(
        f"[{label}] ingest+pair {n:,} call events -> {visits:,} visits: {ingest}, "
        f"{n / ingest.wall:,.0f} events/s; baseline bare insert of the same rows {baseline}, "
        f"{n / baseline.wall:,.0f} rows/s; ingest takes {ingest.wall / baseline.wall:.2f}x "
        f"the baseline's wall time (goal <= 3), "
        f"{ingest.all_cpu / baseline.all_cpu:.2f}x its CPU time (process + server)"
    )
    schema = extra["schema_events"].all_cpu + extra["schema_visits"].all_cpu
    print(
        f"[{label}] decomposition (CPU, process + server): bare insert of every row the "
        f"ingest writes (events, visits, versions) {extra['bare_all']}, "
        f"{extra['bare_all'].all_cpu / baseline.all_cpu:.2f}x the baseline; the same rows "
        f"into the ledger's tables: events {extra['schema_events']}, visits and versions "
        f"{extra['schema_visits']}, together {schema / baseline.all_cpu:.2f}x the baseline; "
        f"ingest {ingest.all_cpu / extra['bare_all'].all_cpu:.2f}x the bare insert of every "
        f"row, {ingest.all_cpu / schema:.2f}x the same rows into the ledger's tables"
    )
    floor = extra["floor_keys"]
    line = (
        f"[{label}] floor of the ledger's integrity (CPU, process + server): the same rows "
        f"into its tables with their keys, unique keys, foreign keys and checks but no "
        f"secondary index: {floor}, {floor.all_cpu / baseline.all_cpu:.2f}x the baseline"
    )
    if "floor_no_fk" in extra:
        no_fk = extra["floor_no_fk"]
        line += f"; without the foreign keys either: {no_fk}, "
        line += f"{no_fk.all_cpu / baseline.all_cpu:.2f}x"
    print(line)
    print(
        f"[{label}] legacy baseline (7 columns, SQLAlchemy executemany) {legacy}, "
        f"{n / legacy.wall:,.0f} rows/s; ingest takes {ingest.wall / legacy.wall:.2f}x its wall"
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
    parser.add_argument("--port", type=int, default=55499, help="the throwaway PostgreSQL's port")
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
                [str(ROOT / "scripts" / "postgres"), "start", str(pgdir), str(args.port)], text=True
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
