"""Flows benchmark: import 100,000 beneficiaries and 10,000 workers, export a month of
500,000 visits.

    .venv/bin/python -m bench.flows.run [--beneficiaries 100000] [--workers 10000]
        [--visits 500000] [--database-url URL]

Generates the input files in the documented formats (three phone numbers in
assorted French forms, Latin names with accents), then on a fresh database
(embedded SQLite in a temporary folder by default):
  * baseline: ``csv.reader`` over the same bytes (decode and split only);
  * import of each file (``flows.importer.import_file``: validation, history,
    one transaction), then the same file again (nothing to change);
  * export of the month's service done (``flows.exporter.export_service_done``)
    after bulk-loading the visits, with a baseline: the same rows selected and
    written by ``csv.writer`` with no formatting.
Times are printed, never asserted; peak memory (RSS) is printed after the imports.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from config.database import create_schema
from flows import exporter, formats
from flows.importer import import_file
from kernel.progress import Progress
from ledger.db import make_engine, make_session_factory
from ledger.models import (
    Antenna,
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


def line(label: str, rows: int, seconds: float, base: float | None = None) -> None:
    ratio = f"  ({seconds / base:5.1f}x baseline)" if base else ""
    print(f"{label:<44} {rows:>9,} rows {seconds:8.2f} s {rows / seconds:>11,.0f} rows/s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beneficiaries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--visits", type=int, default=500_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    rng = random.Random(2026)
    tmp = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        for code in ANTENNAS:
            session.add(Antenna(code=code, name=f"Antenne {code}", address=""))
        for code, kind in FUNDERS:
            session.add(Funder(code=code, name=code, kind=kind))
        session.commit()
    print(f"database: {engine.dialect.name}, files in {tmp}")

    w_path, b_path = tmp / "intervenants_20261123.csv", tmp / "beneficiaires_20261123.csv"
    write_workers(w_path, args.workers, rng)
    write_beneficiaries(b_path, args.beneficiaries, rng)
    print(
        f"files: workers {w_path.stat().st_size / 1e6:.1f} MB, "
        f"beneficiaries {b_path.stat().st_size / 1e6:.1f} MB"
    )

    for label, path in (("workers", w_path), ("beneficiaries", b_path)):
        started = time.perf_counter()
        rows = baseline_parse(path)
        base = time.perf_counter() - started
        line(f"baseline csv.reader ({label})", rows, base)
        started = time.perf_counter()
        report = import_file(factory, path, tmp, progress=Progress(f"import {label}", "o"))
        took = time.perf_counter() - started
        assert report.rejected == 0 and not report.refused, report.reject_path
        line(f"import {label} (new)", report.created, took, base)
        started = time.perf_counter()
        again = import_file(factory, path, tmp)
        took = time.perf_counter() - started
        line(f"import {label} again (unchanged)", again.unchanged, took, base)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after imports: {peak:.0f} MB")

    with factory() as session:
        started = time.perf_counter()
        load_visits(session, args.visits, rng)
        print(f"(bulk load of {args.visits:,} visits: {time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        rows = baseline_export(session, tmp / "baseline.csv")
        base = time.perf_counter() - started
        line("baseline select + csv.writer (month)", rows, base)
        started = time.perf_counter()
        result = exporter.export_service_done(session, 2026, 10, tmp)
        took = time.perf_counter() - started
        line("export service done (month)", result.rows, took, base)
    out = io.StringIO()
    print(f"service-done file: {result.path.stat().st_size / 1e6:.1f} MB{out.getvalue()}")
    engine.dispose()


if __name__ == "__main__":
    main()
