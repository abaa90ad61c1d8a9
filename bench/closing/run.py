"""Closing benchmark: review, close and every monthly output of a month, on PostgreSQL.

    .venv/bin/python -m bench.closing.run --url postgresql+psycopg://.../empty_db \\
        [--beneficiaries 2800] [--visits-per 7] [--statements 40]

Into an empty PostgreSQL database (migrated here) it writes an organisation of
``--beneficiaries`` (10 antennas, one worker per 10 beneficiaries; each an APA
plan of 8 h, 30 % a pension fund's top-up, 5 % a PCH plan) and ``--visits-per``
complete visits each in October 2026, 2 % incomplete (plain inserts; the
visits carry no call rows, the loader's joins to them still run). The first
customer is 2,800 beneficiaries and 20,000 visits a month; 100 times that is
``--beneficiaries 280000 --visits-per 7`` (two million visits).

It prints, beside a baseline measured in the same process (one SQL pass that
sums the month's durations: the floor of any reading of the month):
  * the referent's review page ``/cloture/2026-10`` (Flask test client: the
    pro-forma from ``ledger.facts.month_billing``, progress per antenna) and
    one funder's page;
  * validating every funder and closing the month (``ledger.closures``);
  * the service-done file, pre-billing and teletransmission files (their jobs,
    local transport), and the signed statements of ``--statements``
    beneficiaries (one process), extrapolated to the month.
Times are printed, never asserted; each line gives the wall time and this
process's CPU time (the machine may be shared). To measure one built month
several times (before and after a change), write it once with
``--build-only`` into a database, copy it (``createdb -T built run1``) and
run with ``--built`` on each copy.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from archive import pipeline
from archive.pki import init_pki
from archive.settings import ArchiveSettings
from billing_export.jobs import jobs as billing_jobs
from config.database import migrate
from extranet.app import AppConfig, create_app
from extranet.models import Role, User
from extranet.passwords import hash_password
from flows.jobs import jobs as flows_jobs
from kernel.jobs import ScheduledJob
from kernel.scheduler import run_job
from kernel.settings import CoreSettings
from ledger import closures
from ledger.closing import Cutoff
from ledger.db import make_engine, make_session_factory
from ledger.models import (
    Antenna,
    Beneficiary,
    CarePlan,
    Civility,
    Funder,
    FunderKind,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.timeutil import Month

OCTOBER = Month(2026, 10)
#: The app's clock: after October's cut-off, before November's.
NOW = Cutoff().at(OCTOBER) + timedelta(days=1)
PASSWORD = "benchmark password 2026"
CHUNK = 20_000


def _insert(session: Any, model: type, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def build(url: str, beneficiaries: int, per_ben: int, seed: int = 2026) -> int:
    """The organisation and the month; returns the number of visits."""
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(seed)
    with factory() as session:
        antennas = [Antenna(code=f"ANT{n}", name=f"Antenne {n}") for n in range(10)]
        session.add_all(antennas)
        funders = {
            kind: Funder(code=code, name=name, kind=kind)
            for kind, code, name in (
                (FunderKind.APA, "APA75", "Département — APA"),
                (FunderKind.PCH, "PCH75", "Département — PCH"),
                (FunderKind.PENSION_FUND, "CNAV", "Caisse de retraite"),
            )
        }
        session.add_all(funders.values())
        session.flush()
        workers = max(1, beneficiaries // 10)
        _insert(
            session,
            Worker,
            [
                {
                    "external_id": f"SAL{w:07d}",
                    "civility": Civility.MRS,
                    "last_name": f"Diallo{w}",
                    "first_name": "Awa",
                    "antenna_id": antennas[w % 10].id,
                    "phone_code": f"{1_000_000 + w}",
                    "active_from": date(2020, 1, 1),
                }
                for w in range(workers)
            ],
        )
        _insert(
            session,
            Beneficiary,
            [
                {
                    "external_id": f"BEN{b:07d}",
                    "civility": Civility.MRS,
                    "last_name": f"Martin{b}",
                    "first_name": "Jeanne",
                    "address": "12 rue Oberkampf",
                    "postcode": "75011",
                    "city": "Paris",
                    "antenna_id": antennas[b % 10].id,
                    "care_start": date(2020, 1, 1),
                }
                for b in range(beneficiaries)
            ],
        )
        worker_ids = session.scalars(select(Worker.id).order_by(Worker.id)).all()
        ben_rows = session.execute(
            select(Beneficiary.id, Beneficiary.antenna_id).order_by(Beneficiary.id)
        ).all()
        plans: list[dict[str, Any]] = []
        for ben_id, _antenna in ben_rows:
            plans.append(_plan(ben_id, funders[FunderKind.APA].id, "AIDE", 8))
            if rng.random() < 0.3:
                plans.append(_plan(ben_id, funders[FunderKind.PENSION_FUND].id, "AIDE", 6))
            if rng.random() < 0.05:
                plans.append(_plan(ben_id, funders[FunderKind.PCH].id, "PCH", 10))
        _insert(session, CarePlan, plans)
        visits: list[dict[str, Any]] = []
        first = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
        for index, (ben_id, antenna_id) in enumerate(ben_rows):
            worker = worker_ids[index // 10 % len(worker_ids)]
            for n in range(per_ben):
                start = first + timedelta(
                    days=n * 4 + rng.randrange(4), hours=7 + rng.randrange(10)
                )
                incomplete = rng.random() < 0.02
                visits.append(
                    {
                        "worker_id": worker,
                        "beneficiary_id": ben_id,
                        "antenna_id": antenna_id,
                        "started_at": start,
                        "ended_at": None
                        if incomplete
                        else start + timedelta(minutes=30 + rng.randrange(120), seconds=17),
                        "service_date": (start + timedelta(hours=2)).date(),
                        "status": VisitStatus.INCOMPLETE if incomplete else VisitStatus.COMPLETE,
                        "version": 1,
                    }
                )
        _insert(session, Visit, visits)
        session.execute(
            text(
                "INSERT INTO visit_versions (visit_id, version, started_at, ended_at, status, "
                "comment, author, created_at) SELECT id, 1, started_at, ended_at, status, '', "
                "'system:bench', now() FROM visits"
            )
        )
        session.add(
            User(
                login="referent",
                name="Référente",
                role=Role.CENTRAL_REFERENT,
                password_hash=hash_password(PASSWORD),
                active=True,
            )
        )
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
    engine.dispose()
    assert VisitVersion  # the versions are written by the SQL above
    return len(visits)


def _plan(ben_id: int, funder_id: int, service: str, hours: int) -> dict[str, Any]:
    return {
        "beneficiary_id": ben_id,
        "funder_id": funder_id,
        "service_code": service,
        "reference": f"P{ben_id}-{funder_id}",
        "max_hours": hours,
        "starts_on": date(2026, 1, 1),
    }


def timed(label: str, action: Callable[[], object], baseline: float) -> float:
    """Run and print one step: wall time, its ratio to the baseline, this process's CPU time."""
    started, cpu = time.perf_counter(), time.process_time()
    result = action()
    seconds = time.perf_counter() - started
    print(
        f"  {label:<48} {seconds:8.2f} s   {seconds / baseline:8.1f} × baseline   "
        f"cpu {time.process_time() - cpu:7.2f} s   {result}",
        flush=True,
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--beneficiaries", type=int, default=2800)
    parser.add_argument("--visits-per", type=int, default=7)
    parser.add_argument("--statements", type=int, default=40)
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="write the organisation and stop (then copy it: createdb -T built run1)",
    )
    parser.add_argument(
        "--built",
        action="store_true",
        help="measure a database written by --build-only (its month never closed)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    if args.built:
        with make_session_factory(make_engine(args.url))() as session:
            count = session.scalar(select(func.count()).select_from(Visit)) or 0
        print(f"{count} visits in {OCTOBER.label} (built before)")
    else:
        count = build(args.url, args.beneficiaries, args.visits_per)
        print(
            f"{args.beneficiaries} beneficiaries, {count} visits in {OCTOBER.label} "
            f"(built in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    if args.build_only:
        return
    engine = make_engine(args.url)
    factory = make_session_factory(engine)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-closing-"))

    def baseline_pass() -> str:
        with factory() as session:
            row = session.execute(
                text(
                    "SELECT count(*), sum(extract(epoch FROM ended_at - started_at)) FROM visits "
                    "WHERE service_date BETWEEN :a AND :b AND status != 'deleted'"
                ),
                {"a": OCTOBER.first_day, "b": OCTOBER.last_day},
            ).one()
        return f"{row[0]} visits, {int(row[1] or 0) // 3600} h"

    t0 = time.perf_counter()
    print(f"  {'baseline: one SQL pass over the month':<48}", end="")
    baseline_pass()
    baseline = time.perf_counter() - t0
    print(f" {baseline:8.2f} s", flush=True)

    app = create_app(
        AppConfig(
            session_factory=factory, data_dir=data_dir, secret_key="b" * 48, clock=lambda: NOW
        )
    )
    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/connexion", data={"login": "referent", "password": PASSWORD, "csrf_token": token})

    def get(url: str) -> str:
        response = client.get(url)
        return f"HTTP {response.status_code}, {len(response.data) // 1024} KiB"

    timed("review page /cloture/2026-10", lambda: get("/cloture/2026-10"), baseline)
    timed(
        "funder page (APA75, by beneficiary, page 1)",
        lambda: get("/cloture/2026-10/financeurs/APA75"),
        baseline,
    )

    def close() -> str:
        with factory() as session:
            keys = closures.figures(session, OCTOBER, None).digests
            for key in keys:
                closures.validate_funder(
                    session, OCTOBER, key, actor="referent", now=NOW, rules=None
                )
            session.commit()
            life = closures.close_month(session, OCTOBER, actor="referent", now=NOW, rules=None)
            session.commit()
        return f"{len(keys)} funders validated, revision {life.revision}"

    timed("validate every funder, then close", close, baseline)
    timed(
        "review page again (closed, figures unchanged)", lambda: get("/cloture/2026-10"), baseline
    )

    def job(found: list[ScheduledJob], name: str) -> Callable[[], str]:
        [chosen] = [j for j in found if j.name == name]

        def run() -> str:
            result = run_job(chosen, factory, data_dir, params={"month": str(OCTOBER)})
            return f"{result.status.value}: {result.message[:70]}"

        return run

    timed(
        "service-done file (flows.monthly_export)",
        job(flows_jobs(), "flows.monthly_export"),
        baseline,
    )
    timed(
        "pre-billing + teletransmission",
        job(billing_jobs(), "billing_export.monthly_delivery"),
        baseline,
    )

    init_pki(data_dir, "Bench")
    core = CoreSettings(data_dir=data_dir, database_url=args.url)
    with factory() as session:
        sample = session.scalars(
            select(Beneficiary.id).order_by(Beneficiary.id).limit(args.statements)
        ).all()

    def statements() -> str:
        summary = pipeline.run_month(
            factory,
            core,
            ArchiveSettings(processes=1),
            OCTOBER.year,
            OCTOBER.month,
            triggered_by="bench",
            beneficiary_ids=sample,
            processes=1,
        )
        return f"{summary.signed} signed"

    seconds = timed(f"signed statements, sample of {len(sample)}", statements, baseline)
    per = seconds / max(1, len(sample))
    print(
        f"  {'  → the month, extrapolated (one process)':<48} "
        f"{per * args.beneficiaries / 3600:8.2f} h   ({per * 1000:.0f} ms per statement)"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
