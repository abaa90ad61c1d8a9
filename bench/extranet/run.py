"""Extranet benchmark: the main pages under 10 concurrent users, on PostgreSQL.

    .venv/bin/python -m bench.extranet.run [--visits 1200000] [--rounds 5] [--users 10]
    .venv/bin/python -m bench.extranet.run --big          # 10 million visits (long)
    .venv/bin/python -m bench.extranet.run --big --pgdir /tmp/pg-pages --reuse

Builds a throwaway PostgreSQL (scripts/postgres, ``--port``, ``--pgdir``) with
the first customer's organisation (``demo.organisation``: 6 antennas, 330
workers, 2,100 beneficiaries, a month of real calls and visits; ``--people``
times more workers and beneficiaries, 4 with ``--big``) plus ``--visits``
historical visits over ``--years`` years before that month, each with its
arrival and departure calls (identified, answered at the visit's times), except
about one in a thousand left incomplete (its departure not called in) and one
in forty corrected (one call missing, then a manager's version with a motive),
and some calls no visit could take (unknown number or worker code), generated
in the database with INSERT ... SELECT (secondary indexes of ``visits`` and
``call_events`` dropped during the load and built again after).
``--give-history-calls`` gives the history of a database built before the
history had calls (``--reuse``) the same calls and versions in place, then
counts again the incomplete calls its closed months keep. ``--reuse`` keeps a
database built by an earlier run with the same ``--pgdir`` (its ids are in
``bench-ids.json`` there); migrations are applied to it (new indexes included).
The PostgreSQL started here is stopped at the end. Then starts the extranet
with gunicorn (``telegestion extranet serve``) and has ``--users`` threads
(each logged in as an antenna manager or a central referent) request every main
page ``--rounds`` times, with ``--think`` seconds (on average) between two pages,
as a person reading them would, or none (the default). Prints p50/p95 per page,
against a baseline in the same run: ``/sante``, the cheapest request through the
same gunicorn, session-less (the cost of the server and the network alone), and the machine's
load average before and after.

Then the statistics states (``--only-states`` skips the page mix, ``--no-states``
the states): a second gunicorn (one worker, one thread, statistics cache off,
so every request computes its state) answers each of the thirteen states one
request at a time, ``--state-rounds`` times, for one antenna and one month (as
that antenna's manager) and for all antennas and a year (as a referent); then a
year's CSV, XLSX and PDF exports for one antenna. p50/p95 beside the same
baseline. ``--state-scales month-changed`` measures one antenna's month again
with one of its visits corrected (through ``ledger.service``, not timed) before
each request: a working day's case, where every request on the open month is
the first after a change. A long run can be narrowed: ``--skip`` pages of the
mix (by their printed names), ``--state-scales`` (month, month-changed, year,
export), ``--states`` (slugs),
``--export-formats``, ``--state-timeout``; ``--verbose`` prints each request's
time as it comes. Each state's line also gives the server's median CPU time
per request (gunicorn's processes, from /proc): on a shared machine the wall
time includes waiting for a core, the CPU time does not.

``--close-history`` first closes the history's months as a real organisation
would have (its history is months that were closed): each funder validated,
then the month closed through ``ledger.closures``, which keeps the month's
figures (``ledger.figures``); months already closed are left as they are, so an
interrupted run goes on where it stopped. ``--close-months 2025-01:2025-12``
narrows it to those months (closing the three years at ten million visits
takes about 30 minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Connection, func, select, text

from config.database import migrate
from demo.organisation import load_demo
from extranet.demo import create_demo_users
from kernel.settings import closing, money
from ledger import call_figures, closures, service
from ledger.db import make_engine, make_session_factory
from ledger.facts import forget_cached_months
from ledger.models import Antenna, Beneficiary, MonthClosure, Visit, VisitStatus, Worker
from ledger.motives import Motive
from ledger.timeutil import Month, paris_date, utc_now

ROOT = Path(__file__).resolve().parents[2]
PORT = 55503
PASSWORD = "mot de passe du banc d'essai"  # noqa: S105 - a throwaway bench account

HISTORY_SQL = """
CREATE TEMP TABLE bench_pairs AS
SELECT (row_number() OVER (ORDER BY b.id) - 1) AS k, b.id AS beneficiary_id, b.antenna_id,
       (SELECT w.id FROM workers w WHERE w.antenna_id = b.antenna_id
        ORDER BY (w.id * 7919 + b.id * 104729) % 1009 LIMIT 1) AS worker_id
FROM beneficiaries b;
INSERT INTO visits (worker_id, beneficiary_id, antenna_id, started_at, ended_at,
                    service_date, status, version)
SELECT p.worker_id, p.beneficiary_id, p.antenna_id,
       (d + time '07:00' + (s % 12) * interval '1 hour') AT TIME ZONE 'Europe/Paris',
       CASE WHEN (s + extract(doy FROM d)::int) % 997 = 1 THEN NULL ELSE
       (d + time '08:00' + (s % 12) * interval '1 hour' + (s % 3) * interval '30 minutes')
           AT TIME ZONE 'Europe/Paris' END,
       d::date,
       CASE WHEN (s + extract(doy FROM d)::int) % 997 = 1 THEN 'incomplete'
            WHEN (s + extract(doy FROM d)::int) % 40 = 0 THEN 'corrected'
            ELSE 'complete' END,
       1
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
CROSS JOIN generate_series(0, :per_day - 1) AS s
JOIN bench_pairs p ON p.k = (s * 3 + extract(doy FROM d)::int) % :pairs;
INSERT INTO call_events (channel_id, received_at, answered_at, code_completed_at, caller_raw,
                         caller_e164, digits, beneficiary_id, worker_id, antenna_id,
                         identification, direction, outcome, source, recorded_at)
SELECT 'bench-' || to_char(d, 'YYYYMMDD') || '-' || s,
       (d + time '07:00' + s * interval '17 minutes') AT TIME ZONE 'Europe/Paris',
       (d + time '07:00' + s * interval '17 minutes' + interval '2 seconds')
           AT TIME ZONE 'Europe/Paris',
       NULL,
       CASE WHEN s % 2 = 0 THEN '+3361234' || lpad(s::text, 4, '0') ELSE NULL END,
       CASE WHEN s % 2 = 0 THEN '+3361234' || lpad(s::text, 4, '0') ELSE NULL END,
       CASE WHEN s % 2 = 1 THEN '0000' ELSE NULL END,
       CASE WHEN s % 2 = 1 THEN p.beneficiary_id ELSE NULL END,
       CASE WHEN s % 2 = 0 THEN p.worker_id ELSE NULL END,
       p.antenna_id,
       CASE WHEN s % 2 = 0 THEN 'unknown_number' ELSE 'unknown_worker' END,
       NULL, 'recorded', 'ari',
       (d + time '07:00' + s * interval '17 minutes') AT TIME ZONE 'Europe/Paris'
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
CROSS JOIN generate_series(0, :calls_per_day - 1) AS s
JOIN bench_pairs p ON p.k = (s * 7 + extract(doy FROM d)::int) % :pairs;
"""

HISTORY_CALLS_SQL = """
CREATE TEMP TABLE bench_phones AS
SELECT beneficiary_id, min(e164) AS e164 FROM phones GROUP BY beneficiary_id;
CREATE TEMP TABLE bench_authors AS
SELECT a.id AS antenna_id,
       coalesce((SELECT min(u.login) FROM extranet_users u
                 WHERE u.role = 'antenna_manager' AND u.antenna_id = a.id), 'referent') AS login
FROM antennas a;
INSERT INTO call_events (id, channel_id, received_at, answered_at, code_completed_at, caller_raw,
                         caller_e164, called_number, beneficiary_id, worker_id, antenna_id,
                         identification, direction, outcome, source, recorded_at)
SELECT :base + 2 * v.id - 1, 'bench-' || v.id || '-a',
       v.started_at - interval '2 seconds', v.started_at, v.started_at + interval '10 seconds',
       p.e164, p.e164, '0800000000', v.beneficiary_id, v.worker_id, v.antenna_id,
       'ok', 'arrival', 'recorded', 'ari', v.started_at
FROM visits v LEFT JOIN bench_phones p ON p.beneficiary_id = v.beneficiary_id
WHERE v.service_date BETWEEN CAST(:first AS date) AND CAST(:last AS date)
  AND (v.status <> 'corrected' OR v.id % 3 <> 0)
UNION ALL
SELECT :base + 2 * v.id, 'bench-' || v.id || '-d',
       v.ended_at - interval '2 seconds', v.ended_at, v.ended_at + interval '10 seconds',
       p.e164, p.e164, '0800000000', v.beneficiary_id, v.worker_id, v.antenna_id,
       'ok', 'departure', 'recorded', 'ari', v.ended_at
FROM visits v LEFT JOIN bench_phones p ON p.beneficiary_id = v.beneficiary_id
WHERE v.service_date BETWEEN CAST(:first AS date) AND CAST(:last AS date)
  AND (v.status = 'complete' OR (v.status = 'corrected' AND v.id % 3 = 0));
INSERT INTO visit_versions (visit_id, version, started_at, ended_at, status, motive, comment,
                            author, created_at)
SELECT v.id, 1,
       CASE WHEN v.status = 'corrected' AND v.id % 3 = 0 THEN NULL ELSE v.started_at END,
       CASE WHEN v.status = 'corrected' AND v.id % 3 = 0 THEN v.ended_at END,
       'incomplete', NULL, '', 'system:ivr',
       CASE WHEN v.status = 'corrected' AND v.id % 3 = 0 THEN v.ended_at ELSE v.started_at END
FROM visits v
WHERE v.service_date BETWEEN CAST(:first AS date) AND CAST(:last AS date)
  AND v.status <> 'complete'
UNION ALL
SELECT v.id, 2, v.started_at, v.ended_at, 'corrected',
       (ARRAY['worker_forgot', 'phone_out_of_order', 'line_busy', 'wrong_code',
              'no_phone_at_home', 'time_error'])[1 + v.id % 6],
       '', a.login,
       v.ended_at + (1 + v.id % 71) * interval '1 hour'
FROM visits v JOIN bench_authors a ON a.antenna_id = v.antenna_id
WHERE v.service_date BETWEEN CAST(:first AS date) AND CAST(:last AS date)
  AND v.status = 'corrected';
UPDATE visits v SET
    arrival_event_id = CASE WHEN v.status <> 'corrected' OR v.id % 3 <> 0
                            THEN :base + 2 * v.id - 1 END,
    departure_event_id = CASE WHEN v.status = 'complete'
                                   OR (v.status = 'corrected' AND v.id % 3 = 0)
                              THEN :base + 2 * v.id END,
    version = CASE WHEN v.status = 'corrected' THEN 2 ELSE 1 END
WHERE v.service_date BETWEEN CAST(:first AS date) AND CAST(:last AS date);
SELECT setval('call_events_id_seq', (SELECT max(id) FROM call_events))
"""


#: PostgreSQL settings of the bench's cluster: a modest production setting for a
#: machine of 24 GB (the defaults' 128 MB of shared buffers are for a laptop).
SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "random_page_cost": "1.1",
}


def _postgres(action: str, pgdir: Path, port: int) -> str:
    return subprocess.check_output(
        [str(ROOT / "scripts" / "postgres"), action, str(pgdir), str(port)], text=True
    ).strip()


def start_postgres(pgdir: Path, port: int, *, reuse: bool) -> str:
    """Start the bench's cluster: a new one, or the one of an earlier run with ``reuse``."""
    if pgdir.exists() and not (reuse and (pgdir / IDS_FILE).exists()):
        _postgres("stop", pgdir, port)
        shutil.rmtree(pgdir)
    url = _postgres("start", pgdir, port)
    engine = make_engine(url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        changed = False
        for name, value in SETTINGS.items():
            if conn.scalar(text(f"SELECT current_setting('{name}')")) != value:
                conn.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
                changed = True
    engine.dispose()
    if changed:
        _postgres("stop", pgdir, port)
        url = _postgres("start", pgdir, port)
    return url


def stop_postgres(pgdir: Path, port: int) -> None:
    _postgres("stop", pgdir, port)


IDS_FILE = "bench-ids.json"


def build_database(url: str, visits: int, *, people: int = 1, years: int = 5) -> dict[str, int]:
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    with factory() as session:
        load_demo(session, workers=330 * people, beneficiaries=2100 * people)
        os.environ["TELEGESTION_DEMO_PASSWORD"] = PASSWORD
        create_demo_users(session)
        session.commit()
    demo_seconds = time.perf_counter() - started
    today = paris_date(utc_now())
    last = today - timedelta(days=31)
    days = years * 365
    first = last - timedelta(days=days - 1)
    started = time.perf_counter()
    with engine.begin() as conn:
        pairs = conn.scalar(text("SELECT count(*) FROM beneficiaries"))
        # Loading 10 million rows into a table with six indexes is slower than
        # building them after: drop the secondary ones, load, build them again.
        rebuilt = _drop_indexes(conn, ("visits", "call_events"))
        # The generated rows refer to existing rows by construction: no trigger
        # checks their foreign keys one row at a time (the bench's superuser may).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        _run_sql(
            conn,
            HISTORY_SQL,
            {
                "first": first,
                "last": last,
                "per_day": max(1, visits // days),
                "calls_per_day": 4 * people,
                "pairs": pairs,
            },
        )
        _give_calls(conn, first, last)
        _build_indexes(conn, rebuilt)
    history_seconds = time.perf_counter() - started
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    with factory() as session:
        counts = {
            "visits": session.scalar(select(func.count()).select_from(Visit)) or 0,
            "demo_s": round(demo_seconds),
            "history_s": round(history_seconds),
            "beneficiary": session.scalar(select(func.min(Beneficiary.id))) or 0,
            "worker": session.scalar(select(func.min(Worker.id))) or 0,
            "visit": session.scalar(select(func.max(Visit.id))) or 0,
        }
        # The statistics bench reads one antenna as its manager: the first beneficiary's.
        first_ben = session.get_one(Beneficiary, counts["beneficiary"])
        counts["antenna"] = first_ben.antenna_id
        counts["antenna_worker"] = (
            session.scalar(
                select(func.min(Worker.id)).where(Worker.antenna_id == first_ben.antenna_id)
            )
            or 0
        )
    engine.dispose()
    return counts


def _run_sql(conn: Connection, sql: str, params: dict[str, object]) -> None:
    for statement in sql.split(";\n"):
        if statement.strip():
            conn.execute(text(statement), params)


def _drop_indexes(conn: Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes and unique constraints of ``tables`` (not their primary
    keys); the statements that build them again."""
    rebuilt: list[str] = []
    for table in tables:
        for name, definition in conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"
            ),
            {"t": table},
        ).all():
            conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
            rebuilt.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for name, definition in conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            ),
            {"t": table},
        ).all():
            conn.execute(text(f"DROP INDEX {name}"))
            rebuilt.append(definition)
    return rebuilt


def _build_indexes(conn: Connection, rebuilt: list[str]) -> None:
    conn.execute(text("SET maintenance_work_mem = '1GB'"))
    for statement in rebuilt:
        conn.execute(text(statement))


def _give_calls(conn: Connection, first: date, last: date) -> None:
    """Give the history visits of ``first`` to ``last`` their calls (HISTORY_CALLS_SQL)."""
    base = conn.scalar(text("SELECT coalesce(max(id), 0) FROM call_events"))
    _run_sql(conn, HISTORY_CALLS_SQL, {"first": first, "last": last, "base": base})


def give_history_calls(url: str) -> dict[str, float]:
    """Give the history visits of a database built before they had calls (the bench's
    ``--give-history-calls``) their calls and versions, as a fresh build does, then count
    again the incomplete calls kept by the closed months (``ledger.call_figures``): the
    only figures of a closed month that depend on the calls (the kept allocation and the
    funders' digests do not read them)."""
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        # The history: the visits before the demo month's, the only ones with versions.
        first, last = conn.execute(
            text(
                "SELECT (SELECT min(service_date) FROM visits), min(v.service_date) - 1 "
                "FROM visits v JOIN visit_versions vv ON vv.visit_id = v.id"
            )
        ).one()
        called = conn.scalar(
            text(
                "SELECT count(*) FROM visits WHERE service_date BETWEEN :f AND :l "
                "AND (arrival_event_id IS NOT NULL OR departure_event_id IS NOT NULL)"
            ),
            {"f": first, "l": last},
        )
        if called:
            raise SystemExit(f"The history ({first} to {last}) already has calls.")
        before = conn.scalar(text("SELECT count(*) FROM call_events"))
        rebuilt = _drop_indexes(conn, ("visits", "call_events"))
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        _give_calls(conn, first, last)
        loaded = time.perf_counter()
        _build_indexes(conn, rebuilt)
        events = conn.scalar(text("SELECT count(*) FROM call_events")) - before
    indexed = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    vacuumed = time.perf_counter()
    factory = make_session_factory(engine)
    with factory() as session:
        months = [
            Month(y, m)
            for y, m in session.execute(
                select(MonthClosure.year, MonthClosure.month)
                .where(MonthClosure.closed.is_(True))
                .order_by(MonthClosure.year, MonthClosure.month)
            )
        ]
        for month in months:
            call_figures.store(session, month)
        session.commit()
    engine.dispose()
    done = time.perf_counter()
    return {
        "events": events,
        "closed_months": len(months),
        "load_s": round(loaded - started),
        "indexes_s": round(indexed - loaded),
        "vacuum_s": round(vacuumed - indexed),
        "recount_s": round(done - vacuumed),
    }


def close_history(url: str, first: Month | None = None, last: Month | None = None) -> None:
    """Close every month of the history not closed yet (from ``first`` to ``last``): each
    funder validated by a referent after the month's cut-off, then the month closed."""
    factory = make_session_factory(make_engine(url))
    rules = money().rules
    cutoff = closing().cutoff
    with factory() as session:
        oldest = session.scalar(select(func.min(Visit.service_date)))
    if oldest is None:
        return
    # The month before the demo month is the last one a real organisation has closed.
    month = first or Month.of(oldest)
    last = last or Month.of(paris_date(utc_now())).previous().previous()
    while month <= last:
        with factory() as session:
            if closures.is_closed(session, month):
                month = month.next()
                continue
            started = time.perf_counter()
            now = cutoff.at(month) + timedelta(minutes=1)
            for key in closures.figures(session, month, rules).digests:
                closures.validate_funder(
                    session, month, key, actor="referent", now=now, rules=rules
                )
            closures.close_month(session, month, actor="referent", now=now, rules=rules)
            session.commit()
        forget_cached_months()
        print(f"  {month} closed in {time.perf_counter() - started:.0f} s", flush=True)
        month = month.next()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: A worker's line once warmed (``extranet.stats.warm``).
WARMED = re.compile(r"worker warmed: [^\n]*")


def start_extranet(
    url: str,
    data_dir: Path,
    workers: int,
    threads: int,
    stats_cache: int = 300,
    name: str = "extranet",
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "TELEGESTION_CORE_DATABASE_URL": url,
        "TELEGESTION_CORE_DATA_DIR": str(data_dir),
        "TELEGESTION_EXTRANET_SECRET_KEY": secrets.token_urlsafe(48),
        "TELEGESTION_EXTRANET_WORKERS": str(workers),
        "TELEGESTION_EXTRANET_THREADS": str(threads),
        # The bench talks plain HTTP through httpx, whose cookie jar keeps Secure
        # cookies for https only.
        "TELEGESTION_EXTRANET_SECURE_COOKIES": "false",
        # 0 for the statistics bench: every request computes its state.
        "TELEGESTION_EXTRANET_STATS_CACHE_SECONDS": str(stats_cache),
    }
    log = data_dir / f"gunicorn-{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "config.cli", "extranet", "serve", "--bind", f"127.0.0.1:{port}"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # a loaded machine starts gunicorn slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/sante", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.terminate()
        raise RuntimeError("the extranet did not start")
    # Each worker warms before it takes requests (``extranet.stats.warm``): the first
    # may answer while another still warms, which would weigh on the figures.
    warmed: list[str] = []
    warming = env.get("TELEGESTION_EXTRANET_WARM_SECONDS") != "0"
    while warming and len(warmed) < workers and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the extranet stopped: {log}")
        warmed = WARMED.findall(log.read_text(errors="replace"))
        time.sleep(0.2)
    for line in warmed:
        print(f"  {line}", flush=True)
    return process, base


TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def login(client: httpx.Client, user: str) -> str:
    """Log in; the session's CSRF token (for the posted export)."""
    page = client.get("/connexion")
    found = TOKEN.search(page.text)
    assert found
    answer = client.post(
        "/connexion", data={"login": user, "password": PASSWORD, "csrf_token": found.group(1)}
    )
    assert answer.status_code == 302, answer.status_code
    found = TOKEN.search(client.get("/interventions/aujourdhui").text)
    assert found
    return found.group(1)


#: The export is a POST (it is audited): its form, as the page's button sends it.
EXPORT = "/interventions/export.csv"


def pages(ids: dict[str, int], central: bool) -> dict[str, str]:
    today = paris_date(utc_now()).isoformat()
    found = {
        "interventions du jour": "/interventions/aujourdhui",
        "fragment live": "/interventions/aujourdhui?fragment=1",
        "appels incomplets": "/appels/incomplets",
        "planning": "/planning",
        "alertes": "/alertes",
        "bénéficiaires": "/beneficiaires",
        "journal": "/journal",
        "export du jour": f"{EXPORT}?first={today}&last={today}",
    }
    if central:
        found["fiche bénéficiaire"] = f"/beneficiaires/{ids['beneficiary']}"
        found["fiche intervenant"] = f"/intervenants/{ids['worker']}"
        found["intervention"] = f"/interventions/{ids['visit']}"
        found["statistiques (6 mois)"] = "/statistiques"
    found["état 11 (mois, caché)"] = "/statistiques/activite-mensuelle"
    return found


def run_users(
    base: str,
    ids: dict[str, int],
    users: int,
    rounds: int,
    skip: frozenset[str] = frozenset(),
    think: float = 0.0,
) -> dict[str, list[float]]:
    """Each user logs in, then asks every page of its role ``rounds`` times, waiting
    between two pages a time drawn around ``think`` seconds (0: none, each page asked as
    soon as the last one answered: on two cores, ten such users keep both busy, and a
    page's time is then mostly its wait for a core)."""
    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    errors: list[str] = []
    logins = ["referent"] + [
        f"resp-{code}" for code in ("centre", "riveg", "ouest", "nord", "est", "sud")
    ]

    def user_loop(index: int) -> None:
        login_name = logins[index % len(logins)]
        # Seeded per user: the same waits at each run, users out of step with each other.
        waits = random.Random(index)
        with httpx.Client(base_url=base, timeout=60) as client:
            token = login(client, login_name)
            for _ in range(rounds):
                for name, path in pages(ids, login_name == "referent").items():
                    if name in skip:
                        continue
                    if think:
                        # A person reading the last page: half to one and a half times it.
                        time.sleep(think * waits.uniform(0.5, 1.5))
                    started = time.perf_counter()
                    try:
                        if path.startswith(EXPORT):
                            form = dict(httpx.URL(path).params)
                            answer = client.post(EXPORT, data={**form, "csrf_token": token})
                        else:
                            answer = client.get(path)
                    except httpx.HTTPError as failed:
                        # A timeout counts, at its length, and the user goes on.
                        errors.append(f"{path}: {type(failed).__name__}")
                    else:
                        if answer.status_code != 200:
                            errors.append(f"{path}: {answer.status_code}")
                    elapsed = time.perf_counter() - started
                    with lock:
                        timings[name].append(elapsed)
                with httpx.Client(base_url=base, timeout=60) as bare:
                    started = time.perf_counter()
                    bare.get("/sante")
                    with lock:
                        timings["baseline /sante"].append(time.perf_counter() - started)

    threads = [threading.Thread(target=user_loop, args=(i,)) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"  {len(errors)} errors, e.g. {errors[:3]}")
    return timings


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def report(timings: dict[str, list[float]], cpu: dict[str, list[float]] | None = None) -> None:
    """p50/p95/max per page; with ``cpu``, the server's CPU time per request too (median
    and p95: a first request's allocation is in the p95)."""
    extra = f" {'cpu ms':>8} {'cpu p95':>8}" if cpu is not None else ""
    print(f"  {'page':<26} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}{extra}")
    for name, values in sorted(timings.items(), key=lambda item: item[0] != "baseline /sante"):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        spent = (
            f" {statistics.median(cpu[name]) * 1000:>8.0f} {_p95(cpu[name]) * 1000:>8.0f}"
            if cpu is not None and cpu[name]
            else ""
        )
        print(
            f"  {name:<26} {len(values):>4} {statistics.median(values) * 1000:>8.0f} "
            f"{p95 * 1000:>8.0f} {ordered[-1] * 1000:>8.0f}{spent}"
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children (gunicorn's workers), from /proc.

    The machine is shared: a request's wall time includes waiting for a core, its
    CPU time does not, so the two read together say whether a state got faster.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # not Linux, or the process is gone
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        pending += [int(child) for child in children]
    return total


def state_urls(ids: dict[str, int], scale: str) -> dict[str, str]:
    """Every statistics state: for one antenna and one month, or for all antennas and a year."""
    from extranet.stats.states import STATES

    today = paris_date(utc_now())
    month = Month.of(today).previous()
    year = today.year - 1
    found = {}
    for slug, state in STATES.items():
        kinds = [k.value for k in state.periods]
        if scale == "month":
            query = f"periode=mois&mois={month}"
            # A state without months (12, the half-year and year summary) reads the
            # month's half-year.
            if "mois" not in kinds:
                query = f"periode=semestre&semestre={month.year}-{1 if month.month <= 6 else 2}"
        elif "annee" in kinds:
            query = f"periode=annee&annee={year}"
        else:
            query = f"periode=dates&du={year}-01-01&au={year}-12-31"
        if slug == "planning-beneficiaire":
            query += f"&beneficiaire={ids['beneficiary']}"
        if slug == "planning-intervenant":
            query += f"&intervenant={ids['antenna_worker']}"
        found[f"{state.number:>2} {slug}"] = f"/statistiques/{slug}?{query}"
    return found


def run_states(
    base: str,
    ids: dict[str, int],
    rounds: int,
    manager: str,
    *,
    scales: tuple[str, ...] = ("month", "year", "export"),
    only: tuple[str, ...] = (),
    timeout: float = 600,
    verbose: bool = False,
    server_pid: int | None = None,
    formats: tuple[str, ...] = ("csv", "xlsx", "pdf"),
    change: Callable[[], None] | None = None,
) -> None:
    """Each state's latency, one request at a time, computed at every request (no cache).

    ``scales``: month (one antenna), month-changed (the same, ``change`` called
    before each request: a working day, where every request on the open month
    follows a change of it), year (all antennas), export (a year, one
    antenna); ``only``: these states' slugs; ``timeout``: a request's longest wait;
    ``verbose``: each request's time as it comes (a long run shows where it is);
    ``server_pid``: gunicorn's, to print each request's CPU time beside its wall time;
    ``formats``: of the exports (a PDF of a year's 540,000 visits is not a bench's).
    """

    def spent() -> float:
        return cpu_seconds(server_pid) if server_pid is not None else 0.0

    cases = [
        (scale, title, login_name, urls)
        for scale, title, login_name, urls in (
            ("month", "one antenna, one month (a manager)", manager, state_urls(ids, "month")),
            (
                "month-changed",
                "one antenna, one month, a visit of it changed before each request",
                manager,
                state_urls(ids, "month"),
            ),
            ("year", "all antennas, a year (a referent)", "referent", state_urls(ids, "year")),
        )
        if scale in scales
    ]
    for scale, title, login_name, urls in cases:
        timings: dict[str, list[float]] = defaultdict(list)
        cpu: dict[str, list[float]] = defaultdict(list)
        with httpx.Client(base_url=base, timeout=timeout) as client:
            login(client, login_name)
            for _ in range(rounds):
                for name, path in urls.items():
                    if only and name.split()[-1] not in only:
                        continue
                    if scale == "month-changed" and change is not None:
                        change()  # not timed: the request after it is
                    started, used = time.perf_counter(), spent()
                    try:
                        answer = client.get(path)
                    except httpx.TimeoutException:
                        print(f"  {path}: no answer in {timeout:.0f} s", flush=True)
                    else:
                        if answer.status_code != 200:
                            print(f"  {path}: {answer.status_code}")
                    timings[name].append(time.perf_counter() - started)
                    cpu[name].append(spent() - used)
                    if verbose:
                        print(
                            f"    {name}: {timings[name][-1] * 1000:.0f} ms "
                            f"(cpu {cpu[name][-1] * 1000:.0f} ms)",
                            flush=True,
                        )
                started, used = time.perf_counter(), spent()
                client.get("/sante")
                timings["baseline /sante"].append(time.perf_counter() - started)
                cpu["baseline /sante"].append(spent() - used)
        print(f"Statistics, {title}, {rounds} rounds:", flush=True)
        report(timings, cpu if server_pid is not None else None)
    if "export" not in scales:
        return
    # A year's exports for one antenna.
    timings = defaultdict(list)
    cpu = defaultdict(list)
    year = paris_date(utc_now()).year - 1
    # Every state's year (the same query as the year of all antennas, asked by the
    # antenna's manager), and the visits behind the figures (state 0).
    exported = {"interventions": f"/statistiques/interventions?periode=annee&annee={year}"}
    exported |= {name.split()[-1]: path for name, path in state_urls(ids, "year").items()}
    with httpx.Client(base_url=base, timeout=timeout) as client:
        login(client, manager)
        for slug, page in exported.items():
            if only and slug not in only:
                continue
            path, query = page.split("?", 1)
            for fmt in formats:
                for _ in range(max(1, rounds // 2)):
                    started, used = time.perf_counter(), spent()
                    try:
                        answer = client.get(f"{path}.{fmt}?{query}")
                    except httpx.TimeoutException:
                        print(f"  {slug}.{fmt}: no answer in {timeout:.0f} s", flush=True)
                    else:
                        if answer.status_code != 200:
                            print(f"  {slug}.{fmt}: {answer.status_code}")
                    timings[f"{slug}.{fmt}"].append(time.perf_counter() - started)
                    cpu[f"{slug}.{fmt}"].append(spent() - used)
                    if verbose:
                        print(
                            f"    {slug}.{fmt}: {timings[f'{slug}.{fmt}'][-1] * 1000:.0f} ms "
                            f"(cpu {cpu[f'{slug}.{fmt}'][-1] * 1000:.0f} ms)",
                            flush=True,
                        )
    print("A year's export for one antenna:", flush=True)
    report(timings, cpu if server_pid is not None else None)


def visit_changer(url: str, antenna_id: int) -> Callable[[], None]:
    """A call that changes one visit of the antenna's open month (the bench's states'
    month) through the ledger: a manager's correction, its end one minute later, then
    back, and so on. Each is a new version, so the month's marker changes and the next
    request reads and allocates the month again, as on a working day."""
    factory = make_session_factory(make_engine(url))
    month = Month.of(paris_date(utc_now())).previous()
    with factory() as session:
        visit_id = session.scalar(
            select(Visit.id)
            .where(
                Visit.antenna_id == antenna_id,
                Visit.service_date >= month.first_day,
                Visit.service_date <= month.last_day,
                Visit.status == VisitStatus.COMPLETE,
                Visit.ended_at.is_not(None),
            )
            .order_by(Visit.id)
            .limit(1)
        )
    step = [timedelta(minutes=1)]

    def change() -> None:
        if visit_id is None:
            return
        with factory() as session:
            visit = session.get_one(Visit, visit_id)
            assert visit.ended_at is not None
            service.correct_visit(
                session,
                visit,
                started_at=visit.started_at,
                ended_at=visit.ended_at + step[0],
                motive=Motive.TIME_ERROR,
                comment="bench: a working day's change",
                author="bench",
            )
            session.commit()
        step[0] = -step[0]

    return change


def postmaster_pid(pgdir: Path) -> int | None:
    """The PostgreSQL server's pid, from its data directory (None: not ours, or gone)."""
    try:
        return int((pgdir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Demand:
    """CPU spent over the page mix by the extranet, PostgreSQL and this bench's users.

    All three share the machine's cores, so together they bound how fast the
    pages can come back: with ``users`` asking, each ``think`` seconds after the
    last answer, the throughput cannot pass ``cores / cpu_per_request``, and
    the interactive response-time law (mean response = users / throughput -
    think) puts the mean response at ``users x cpu_per_request / cores - think``
    at least, whatever the page. PostgreSQL's share counts its live backends
    (the extranet's pooled connections); one that ends during the mix is lost.
    """

    def __init__(self, server_pid: int, database_pid: int | None) -> None:
        self.server_pid, self.database_pid = server_pid, database_pid
        self.start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        database = cpu_seconds(self.database_pid) if self.database_pid is not None else 0.0
        return (
            time.perf_counter(),
            cpu_seconds(self.server_pid),
            database,
            time.process_time(),
        )

    def report(self, requests: int, users: int, think: float) -> None:
        end = self._read()
        wall, server, database, client = (b - a for a, b in zip(self.start, end, strict=True))
        cores = os.cpu_count() or 1
        each = (server + database + client) / requests
        floor = max(0.0, users * each / cores - think)
        where = "" if self.database_pid is not None else " (PostgreSQL not ours: not counted)"
        print(
            f"  CPU over the mix ({requests} requests in {wall:.0f} s): extranet "
            f"{server:.1f} s, PostgreSQL {database:.1f} s{where}, the users' client "
            f"{client:.1f} s; {each * 1000:.1f} ms a request on {cores} cores "
            f"({(server + database) / requests * 1000:.1f} ms without the client), busy "
            f"{(server + database + client) / (wall * cores) * 100:.0f} %. With {users} users "
            f"and {think:g} s of thought, no page mix of this cost can average under "
            f"{floor * 1000:.0f} ms a request (response-time law)",
            flush=True,
        )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=1_200_000)
    parser.add_argument("--big", action="store_true", help="10 million visits")
    parser.add_argument("--years", type=int, default=0, help="of history (5; 3 with --big)")
    parser.add_argument(
        "--people", type=int, default=0, help="times the demo's workers and beneficiaries"
    )
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds a user waits between two pages of the mix, on average (0: none)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--url", default="", help="an empty PostgreSQL database to use instead")
    parser.add_argument(
        "--only-states", action="store_true", help="only the statistics states (no page mix)"
    )
    parser.add_argument("--no-states", action="store_true", help="only the page mix")
    parser.add_argument("--state-rounds", type=int, default=5)
    parser.add_argument(
        "--state-scales",
        default="month,year,export",
        help="of the states: month,month-changed,year,export",
    )
    parser.add_argument("--states", default="", help="only these states (slugs, comma-separated)")
    parser.add_argument("--export-formats", default="csv,xlsx,pdf", help="of the year's exports")
    parser.add_argument("--state-timeout", type=float, default=600, help="seconds per request")
    parser.add_argument("--verbose", action="store_true", help="each state's time as it comes")
    parser.add_argument(
        "--skip", default="", help="pages left out of the mix (their names, comma-separated)"
    )
    parser.add_argument(
        "--close-history", action="store_true", help="close the history's months first"
    )
    parser.add_argument(
        "--close-months", default="", help="only these months: FIRST:LAST (YYYY-MM:YYYY-MM)"
    )
    parser.add_argument("--only-close", action="store_true", help="close, then stop")
    parser.add_argument(
        "--give-history-calls",
        action="store_true",
        help="give the history visits of a database built before they had calls their calls",
    )
    parser.add_argument("--port", type=int, default=PORT, help="of the throwaway PostgreSQL")
    parser.add_argument(
        "--pgdir",
        type=Path,
        default=ROOT / "var" / "bench-extranet-postgres",
        help="the throwaway PostgreSQL's data directory",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database an earlier run built in --pgdir"
    )
    args = parser.parse_args()
    visits = 10_000_000 if args.big else args.visits
    years = args.years or (3 if args.big else 5)
    people = args.people or (4 if args.big else 1)
    own_postgres = not args.url
    url = args.url or start_postgres(args.pgdir, args.port, reuse=args.reuse)
    try:
        ids_file = args.pgdir / IDS_FILE
        if own_postgres and args.reuse and ids_file.exists():
            print(f"Reusing the database of {ids_file}; migrating it…", flush=True)
            started = time.perf_counter()
            migrate(url)
            ids = json.loads(ids_file.read_text())
            print(f"  migrated in {time.perf_counter() - started:.0f} s")
        else:
            print(
                f"Building the database ({visits:,} historical visits over {years} years, "
                f"{people} x the demo's people)…",
                flush=True,
            )
            ids = build_database(url, visits, people=people, years=years)
            if own_postgres:
                ids_file.write_text(json.dumps(ids))
        print(
            f"  {ids['visits']:,} visits in the database; demo organisation {ids['demo_s']} s, "
            f"history {ids['history_s']} s"
        )
        if args.give_history_calls:
            print("Giving the history visits their calls…", flush=True)
            given = give_history_calls(url)
            print("  " + ", ".join(f"{k} {v:,}" for k, v in given.items()), flush=True)
        if args.close_history:
            first = last = None
            if args.close_months:
                first, last = (Month.parse(m) for m in args.close_months.split(":"))
            print("Closing the history's months…", flush=True)
            close_history(url, first, last)
        if not args.only_close:
            run(url, ids, args)
    finally:
        if own_postgres:
            stop_postgres(args.pgdir, args.port)


def run(url: str, ids: dict[str, int], args: argparse.Namespace) -> None:
    data_dir = ROOT / "var" / "bench-extranet"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not args.only_states:
        process, base = start_extranet(url, data_dir, args.workers, args.threads, name="mix")
        try:
            print(
                f"{args.users} concurrent users, {args.rounds} rounds, "
                f"think time {args.think:g} s, gunicorn "
                f"{args.workers} workers x {args.threads} threads; load average "
                f"{load_average()}:",
                flush=True,
            )
            skip = frozenset(name for name in args.skip.split(",") if name)
            demand = Demand(process.pid, None if args.url else postmaster_pid(args.pgdir))
            timings = run_users(base, ids, args.users, args.rounds, skip, args.think)
            report(timings)
            demand.report(sum(map(len, timings.values())), args.users, args.think)
            print(f"  load average after: {load_average()}", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    if args.no_states:
        return
    process, base = start_extranet(url, data_dir, 1, 1, stats_cache=0, name="states")
    try:
        with make_session_factory(make_engine(url))() as session:
            code = session.scalar(select(Antenna.code).where(Antenna.id == ids["antenna"]))
        print(f"Statistics; load average {load_average()}", flush=True)
        run_states(
            base,
            ids,
            args.state_rounds,
            f"resp-{str(code).lower()}",
            scales=tuple(args.state_scales.split(",")),
            only=tuple(s for s in args.states.split(",") if s),
            timeout=args.state_timeout,
            verbose=args.verbose,
            server_pid=process.pid,
            formats=tuple(args.export_formats.split(",")),
            change=visit_changer(url, ids["antenna"]),
        )
        print(f"  load average after: {load_average()}", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
