"""Flows benchmark: import 100,000 and 280,000 beneficiaries (new, then the same file
again) on SQLite and PostgreSQL, 10,000 workers, and export a month of 500,000 visits.

    .venv/bin/python -m bench.flows.run [--beneficiaries 100000,280000] [--workers 10000]
        [--visits 500000] [--database-url URL] [--pg-data DIR]

Generates the input files in the documented formats (one to three phone numbers
in assorted French forms, Latin names with accents), then for each size, on a
fresh database (embedded SQLite in a temporary folder by default, or the
PostgreSQL of ``--database-url``, whose tables are dropped and created again):
  * baseline: ``csv.reader`` over the same bytes (decode and split only),
    measured in the same process just before the import;
  * import of the file (``flows.importer.import_file``: validation, history,
    one transaction), then the same file again (nothing to change);
  * each figure with its wall time, rows/s, ratio to the baseline, this
    process's CPU time and, on a local PostgreSQL whose data directory is
    given (``--pg-data``), the server's CPU time; and the import's peak RSS
    (the kernel's high-water mark, reset before each import);
  * export of the month's service done (``flows.exporter.export_service_done``)
    after bulk-loading the visits, with a baseline: the same rows selected and
    written by ``csv.writer`` with no formatting (``--visits 0`` skips it).
Times are printed, never asserted. The machine is shared: read wall times
beside the CPU times and the baseline of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from config.database import create_schema, import_all_models
from flows import exporter, formats
from flows.importer import import_file
from kernel.progress import Progress
from ledger.db import make_engine, make_session_factory
from ledger.models import (
    Antenna,
    Base,
    Beneficiary,
    Funder,
    FunderKind,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)

ANTENNAS = ["P11", "P12", "P15", "P18", "P19", "P20"]
FUNDERS = [("APA75", FunderKind.APA), ("PCH75", FunderKind.PCH), ("CNAV", FunderKind.PENSION_FUND)]
NAMES = ["Martin", "Lefèvre", "Dubois", "Gérard", "Nguyen", "Diallo", "Muller", "Françoise"]
FIRST = ["Jean", "Hélène", "Agnès", "Moïse", "Zoé", "Ali", "Noël", "Awa"]


def _phone(rng: random.Random, n: int) -> str:
    digits = f"0{rng.choice('1234569')}{n:08d}"
    style = n % 4
    if style == 0:
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if style == 1:
        return "+33 " + digits[1:]
    if style == 2:
        return ".".join(digits[i : i + 2] for i in range(0, 10, 2))
    return digits


def write_workers(path: Path, count: int, rng: random.Random) -> None:
    with open(path, "wb") as out:
        out.write(formats.WORKERS.header.encode() + formats.EOL)
        for n in range(count):
            out.write(
                formats.encode_row(
                    [
                        f"INT{n:06d}",
                        rng.choice(["M", "MME"]),
                        rng.choice(NAMES),
                        rng.choice(FIRST),
                        rng.choice(ANTENNAS),
                        "",
                        str(100000 + n),
                        "2024-01-01",
                        "",
                        "",
                    ],
                    formats.WORKERS,
                )
            )


def write_beneficiaries(path: Path, count: int, rng: random.Random) -> None:
    with open(path, "wb") as out:
        out.write(formats.BENEFICIARIES.header.encode() + formats.EOL)
        for n in range(count):
            phones = [_phone(rng, 3 * n + k) for k in range(rng.randint(1, 3))] + ["", ""]
            out.write(
                formats.encode_row(
                    [
                        f"BEN{n:07d}",
                        rng.choice(["M", "MME"]),
                        rng.choice(NAMES),
                        rng.choice(FIRST),
                        f"{rng.randint(1, 200)} rue de la Roquette",
                        "75011",
                        "Paris",
                        "1940-05-17",
                        rng.choice(ANTENNAS),
                        "2025-01-01",
                        "",
                        str(rng.randint(1, 6)),
                        *phones[:3],
                        rng.choice(FUNDERS)[0],
                        f"PLAN-{n}",
                        "2026-01-01",
                        "",
                        str(rng.choice([20, 30, 40, 45.5])),
                        "AIDE",
                        rng.choice(["F", "M", ""]),
                    ],
                    formats.BENEFICIARIES,
                )
            )


def baseline_parse(path: Path) -> int:
    with open(path, encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.reader(handle, delimiter=";")) - 1


def load_visits(session: Session, count: int, rng: random.Random) -> None:
    workers = session.scalars(select(Worker.id)).all()
    bens = session.execute(select(Beneficiary.id, Beneficiary.antenna_id)).all()
    start = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    versions: list[dict[str, object]] = []
    for n in range(1, count + 1):
        ben_id, antenna_id = bens[n % len(bens)]
        begin = start + timedelta(
            minutes=rng.randrange(0, 31 * 24 * 60 - 200), seconds=rng.randrange(60)
        )
        end = begin + timedelta(
            minutes=rng.choice([30, 45, 60, 90, 120]), seconds=rng.randrange(60)
        )
        batch.append(
            {
                "id": n,
                "worker_id": workers[n % len(workers)],
                "beneficiary_id": ben_id,
                "antenna_id": antenna_id,
                "started_at": begin,
                "ended_at": end,
                "service_date": (begin + timedelta(hours=1)).date(),
                "status": VisitStatus.MANUAL,
                "version": 1,
            }
        )
        versions.append(
            {
                "visit_id": n,
                "version": 1,
                "started_at": begin,
                "ended_at": end,
                "status": VisitStatus.MANUAL,
                "motive": None,
                "comment": "",
                "author": "bench",
            }
        )
        if len(batch) == 20000:
            session.execute(insert(Visit), batch)
            session.execute(insert(VisitVersion), versions)
            batch, versions = [], []
    if batch:
        session.execute(insert(Visit), batch)
        session.execute(insert(VisitVersion), versions)
    session.commit()


def baseline_export(session: Session, path: Path) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        result = session.execute(
            select(
                Visit.id, Visit.beneficiary_id, Visit.worker_id, Visit.started_at, Visit.ended_at
            )
            .where(Visit.service_date >= date(2026, 10, 1), Visit.service_date < date(2026, 11, 1))
            .order_by(Visit.id)
            .execution_options(yield_per=5000)
        )
        for row in result:
            writer.writerow(row)
            rows += 1
    return rows


class Meter:
    """Wall time, this process's CPU time, the database server's CPU time, peak RSS."""

    def __init__(self, pg_data: Path | None) -> None:
        self.pg_data = pg_data

    def __enter__(self) -> Meter:
        _reset_peak_rss()
        self.start_mb = _rss_mb("VmRSS:")
        self.server = _server_cpu(self.pg_data)
        self.cpu = time.process_time()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        after = _server_cpu(self.pg_data)
        self.server = None if after is None or self.server is None else after - self.server
        self.peak_mb = _rss_mb("VmHWM:")


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _rss_mb(key: str) -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith(key):
            return int(text.split()[1]) / 1024
    return 0.0


def _server_cpu(pg_data: Path | None) -> float | None:
    """CPU seconds of a local PostgreSQL: the postmaster, its children, and its reaped ones."""
    if pg_data is None:
        return None
    try:
        master = int((pg_data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(proc.name), int(fields[1])
        if pid == master:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == master:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def line(label: str, rows: int, meter: Meter, base: float | None = None) -> None:
    seconds = meter.wall
    ratio = f" {seconds / base:6.1f}x base" if base else " " * 12
    server = f" + server {meter.server:6.2f} s" if meter.server is not None else ""
    print(
        f"{label:<42} {rows:>8,} rows {seconds:7.2f} s {rows / seconds:>9,.0f} rows/s{ratio}"
        f"  cpu {meter.cpu:6.2f} s{server}  peak RSS {meter.peak_mb:4.0f} MB"
        f" (+{meter.peak_mb - meter.start_mb:.0f})",
        flush=True,
    )


def fresh_database(url: str, tmp: Path, size: int) -> tuple[Engine, sessionmaker[Session]]:
    url = url or f"sqlite:///{tmp / f'bench-{size}.sqlite3'}"
    engine = make_engine(url)
    if engine.dialect.name != "sqlite":
        import_all_models()
        Base.metadata.drop_all(engine)
    create_schema(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        for code in ANTENNAS:
            session.add(Antenna(code=code, name=f"Antenne {code}", address=""))
        for code, kind in FUNDERS:
            session.add(Funder(code=code, name=code, kind=kind))
        session.commit()
    return engine, factory


def bench_import(
    factory: sessionmaker[Session], path: Path, tmp: Path, label: str, pg_data: Path | None
) -> None:
    with Meter(None) as base:
        rows = baseline_parse(path)
    line(f"baseline csv.reader ({label})", rows, base)
    with Meter(pg_data) as meter:
        report = import_file(factory, path, tmp, progress=Progress(f"import {label}", "o"))
    assert report.rejected == 0 and not report.refused, report.reject_path
    line(f"import {label} (new)", report.created, meter, base.wall)
    with Meter(None) as base:
        rows = baseline_parse(path)
    line(f"baseline csv.reader ({label})", rows, base)
    with Meter(pg_data) as meter:
        again = import_file(factory, path, tmp)
    assert again.unchanged == report.created, again.counts
    line(f"import {label} again (unchanged)", again.unchanged, meter, base.wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beneficiaries", default="100000,280000")
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--visits", type=int, default=500_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--pg-data", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(2026)
    tmp = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    sizes = [int(n) for n in args.beneficiaries.split(",") if n]
    engine, factory = fresh_database(args.database_url, tmp, 0)
    print(f"database: {engine.dialect.name}, files in {tmp}, {os.cpu_count()} CPUs", flush=True)
    print(f"load average: {os.getloadavg()[0]:.1f} (the machine is shared)", flush=True)

    if args.workers:
        w_path = tmp / "intervenants_20261123.csv"
        write_workers(w_path, args.workers, rng)
        bench_import(factory, w_path, tmp, "workers", args.pg_data)

    for size in sizes:
        engine.dispose()
        engine, factory = fresh_database(args.database_url, tmp, size)
        b_path = tmp / "beneficiaires_20261123.csv"
        write_beneficiaries(b_path, size, rng)
        print(f"-- {size:,} beneficiaries ({b_path.stat().st_size / 1e6:.1f} MB)", flush=True)
        bench_import(factory, b_path, tmp, f"{size // 1000}k beneficiaries", args.pg_data)
    print(f"load average: {os.getloadavg()[0]:.1f}", flush=True)

    if args.visits and args.workers:
        with factory() as session:
            if not session.scalar(select(Worker.id).limit(1)):
                import_file(factory, w_path, tmp)
            started = time.perf_counter()
            load_visits(session, args.visits, rng)
            print(f"(bulk load of {args.visits:,} visits: {time.perf_counter() - started:.1f} s)")
            with Meter(None) as base:
                rows = baseline_export(session, tmp / "baseline.csv")
            line("baseline select + csv.writer", rows, base)
            with Meter(args.pg_data) as meter:
                result = exporter.export_service_done(session, 2026, 10, tmp)
            line("export service done (month)", result.rows, meter, base.wall)
        out = io.StringIO()
        print(f"service-done file: {result.path.stat().st_size / 1e6:.1f} MB{out.getvalue()}")
    engine.dispose()


if __name__ == "__main__":
    main()
