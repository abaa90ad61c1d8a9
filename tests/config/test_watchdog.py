"""The watchdog: each check against the real part, and the mails a real SMTP server gets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from config import supervisor
from config.watchdog import Targets, Watchdog
from flows.jobs import jobs as flows_jobs
from ivr.spool import Spool
from kernel import alerts, leader
from kernel.alerts import Alerter, CheckResult
from kernel.jobs import JobResult, RunStatus, ScheduledJob
from kernel.runs import JobRun
from kernel.scheduler import run_job
from ledger import service
from ledger.pairing import Direction
from ledger.timeutil import utc_now
from tests.factories import SmallOrg
from tests.flows import files
from tests.ivr.conftest import Asterisk, IvrProcess, asterisk, ivr, wait_for  # noqa: F401
from tests.ledger.test_service import record
from tests.mailbox import Mailbox

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def alert_env(mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    for name, value in mailbox.env().items():
        monkeypatch.setenv(name, value)
    return mailbox


def watchdog(
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    *,
    health_url: str | None = None,
    spools: tuple[Path, ...] = (),
    jobs: tuple[ScheduledJob, ...] = (),
    clock: object = utc_now,
    **overrides: object,
) -> Watchdog:
    settings = alerts.load()
    if overrides:
        values = {**settings.__dict__, **overrides}
        settings = alerts.AlertSettings(**values)  # type: ignore[arg-type]
    alerter = Alerter(settings, session_factory, "Paris Domicile", clock=clock)  # type: ignore[arg-type]
    targets = Targets(health_url, spools, tmp_path / "archive" / "files", jobs)
    return Watchdog(settings, session_factory, targets, alerter, clock=clock)  # type: ignore[arg-type]


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


@pytest.mark.asterisk
def test_a_stopped_asterisk_is_mailed_then_its_recovery(
    ivr: IvrProcess,  # noqa: F811
    asterisk: Asterisk,  # noqa: F811
    alert_env: Mailbox,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    dog = watchdog(
        session_factory,
        tmp_path,
        health_url=f"http://127.0.0.1:{ivr.health_port}/health",
        calls_silence_minutes=0,
    )
    leader.beat(session_factory, "machine:1", leader.ACTIVE, utc_now())
    first = by_name(dog.results())
    assert all(r.ok for r in first.values()), first
    dog.alerter.observe(first.values())
    assert alert_env.messages == []
    try:
        asterisk.provision("stop")
        wait_for(lambda: (ivr.health() or {}).get("asterisk") is False, 60, "IVR sees it down")
        changes = dog.round()
        assert {c.result.name for c in changes if c.kind == "down"} >= {"asterisk"}
        (mail,) = alert_env.wait(1)
        assert mail["Subject"].startswith("[Télégestion Paris Domicile] Alerte : ")
        assert "Asterisk et sa connexion ARI" in mail["Subject"]
        assert "les appels n'aboutissent plus" in mail.get_content()
        assert mail["To"] == "astreinte@example.org, direction@example.org"
        # Still down at the next rounds: nothing more.
        assert dog.round() == []
        assert len(alert_env.messages) == 1
    finally:
        asterisk.provision("start")
    wait_for(ivr.events_connected, 120, "the IVR reconnected")
    changes = dog.round()
    assert {c.result.name for c in changes if c.kind == "up"} >= {"asterisk"}
    recovery = alert_env.wait(2)[1]
    assert recovery["Subject"].startswith("[Télégestion Paris Domicile] Rétabli : ")
    assert "RÉTABLI — Asterisk et sa connexion ARI" in recovery.get_content()


def test_an_ivr_that_does_not_answer_is_down(
    alert_env: Mailbox, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from tests.mailbox import free_port

    dog = watchdog(session_factory, tmp_path, health_url=f"http://127.0.0.1:{free_port()}/health")
    result = by_name(dog.results())["ivr"]
    assert not result.ok and "ne répond pas" in result.detail


def test_rejects_of_the_last_import_are_mailed(
    alert_env: Mailbox, session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    files.world(session)
    import_job = next(j for j in flows_jobs() if j.name == "flows.daily_import")
    bad = files.workers_file(
        tmp_path / "in", [files.worker_row(), files.worker_row("INT002", code_antenne="NOPE")]
    )
    run = run_job(import_job, session_factory, tmp_path, params={"file": str(bad)})
    assert run.status is RunStatus.PARTIAL
    dog = watchdog(session_factory, tmp_path, jobs=(import_job,), calls_silence_minutes=0)
    dog.round()
    (mail,) = alert_env.wait(1)
    assert "Rejets du dernier import" in mail["Subject"]
    body = mail.get_content()
    assert "1 ligne(s) rejetée(s)" in body
    assert run.files and run.files[0] in body
    # The next import without rejects: the recovery.
    good = files.workers_file(tmp_path / "in2", [files.worker_row()])
    assert run_job(import_job, session_factory, tmp_path, params={"file": str(good)}).status is (
        RunStatus.SUCCESS
    )
    dog.round()
    assert "Rétabli : Rejets du dernier import" in alert_env.wait(2)[1]["Subject"]


def _job(name: str, fails: bool = False) -> ScheduledJob:
    def run(ctx: object) -> JobResult:
        if fails:
            raise RuntimeError("serveur SFTP injoignable")
        return JobResult(RunStatus.SUCCESS)

    return ScheduledJob(name, f"Tâche {name}", {"hour": "6", "minute": "0"}, run)


def test_a_failed_job_and_an_overdue_job(
    alert_env: Mailbox, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    failing, late, fine = _job("t.failing", fails=True), _job("t.late"), _job("t.fine")
    run_job(failing, session_factory, tmp_path)
    for job in (late, fine):
        run_job(job, session_factory, tmp_path)
    with session_factory() as s, s.begin():
        # t.late last ran three days ago; its next 06:00 (Paris) has long passed.
        row = s.query(JobRun).filter_by(job_name="t.late").one()
        row.started_at = utc_now() - timedelta(days=3)
    now = utc_now()
    dog = watchdog(
        session_factory,
        tmp_path,
        jobs=(failing, late, fine),
        clock=lambda: now,
        calls_silence_minutes=0,
    )
    results = by_name(dog.results())
    assert not results["job:t.failing"].ok
    assert "serveur SFTP injoignable" in results["job:t.failing"].detail
    assert not results["job:t.late"].ok and "En retard" in results["job:t.late"].detail
    assert results["job:t.fine"].ok


def test_the_scheduler_heartbeat(
    alert_env: Mailbox, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    now = utc_now()
    dog = watchdog(session_factory, tmp_path, clock=lambda: now, calls_silence_minutes=0)
    assert not by_name(dog.results())["scheduler"].ok  # no scheduler ever
    leader.beat(session_factory, "machine:1", leader.STANDBY, now)
    assert not by_name(dog.results())["scheduler"].ok  # a standby runs nothing
    leader.beat(session_factory, "machine:2", leader.ACTIVE, now)
    assert by_name(dog.results())["scheduler"].ok
    later = now + timedelta(minutes=10)
    dog.clock = lambda: later
    result = by_name(dog.results())["scheduler"]
    assert not result.ok and "machine:2" in result.detail


def test_a_spool_not_replayed(
    alert_env: Mailbox, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "ivr" / "ari.spool")
    dog = watchdog(session_factory, tmp_path, spools=(spool.path,), calls_silence_minutes=0)
    assert by_name(dog.results())["spools"].ok  # no spool at all
    spool.append('{"channel": "c1"}')
    assert by_name(dog.results())["spools"].ok  # just written: the replay has time
    old = (utc_now() - timedelta(minutes=30)).timestamp()
    os.utime(spool.path, (old, old))
    result = by_name(dog.results())["spools"]
    assert not result.ok and "ari.spool" in result.detail
    spool.mark(spool.path.stat().st_size)  # replayed
    assert by_name(dog.results())["spools"].ok


def test_disk_space_of_the_archive(
    alert_env: Mailbox, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    assert by_name(watchdog(session_factory, tmp_path).results())["disk"].ok
    full = watchdog(session_factory, tmp_path, disk_min_free_percent=100.0)
    result = by_name(full.results())["disk"]
    assert not result.ok and "% libre" in result.detail


def test_calls_silent_in_service_hours(
    alert_env: Mailbox, session_factory: sessionmaker[Session], tmp_path: Path, org: SmallOrg
) -> None:
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    with session_factory() as s:
        w, b = org.worker_a1.id, org.ben_a1.id
        service.record_call(
            s, record("c1", at, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
        )
        s.commit()
    for hours, paris_hour, ok in ((1, 10, True), (4, 13, False), (13, 22, True)):
        now = at + timedelta(hours=hours)
        dog = watchdog(session_factory, tmp_path, clock=lambda now=now: now)
        assert by_name(dog.results())["calls"].ok is ok, paris_hour


@pytest.fixture
def alert_database(
    alert_env: Mailbox, database_url: str, engine: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Mailbox]:
    monkeypatch.setenv("TELEGESTION_CORE_DATABASE_URL", database_url)
    yield alert_env


def test_the_supervisor_giving_up_raises_an_alert(
    alert_database: Mailbox,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGESTION_CORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    crashing = supervisor.Child("ivr", [sys.executable, "-c", "raise SystemExit(3)"])
    base = [sys.executable, "-m", "config.cli"]
    supervisor.supervise(
        [crashing], base, lambda: crashing.given_up and len(alert_database.messages) > 0
    )
    (mail,) = alert_database.wait(1)
    assert "Processus « ivr »" in mail["Subject"]
    assert "6 redémarrages en une minute" in mail.get_content()
    with session_factory() as s:
        state = s.get_one(alerts.CheckState, "process:ivr")
        assert not state.ok and state.notified_at is not None
    # A new supervisor (or systemd's ExecStartPost) starts it again: the incident ends.
    subprocess.run([*base, "watchdog", "report", "ivr", "extranet"], check=True, timeout=60)
    recovery = alert_database.wait(2)[1]
    assert recovery["Subject"].endswith("Rétabli : Processus « ivr »")
    with session_factory() as s:
        assert s.get_one(alerts.CheckState, "process:ivr").ok


def test_the_watchdog_command_checks_the_configured_parts(
    alert_env: Mailbox, tmp_path: Path
) -> None:
    """``telegestion watchdog check`` as a process: its targets come from the settings,
    on a database it migrates itself (SQLite: the wiring does not depend on it)."""
    from ledger.db import make_engine, make_session_factory
    from tests.mailbox import free_port

    url = f"sqlite:///{tmp_path / 'watchdog.sqlite3'}"
    env = {
        **os.environ,
        "TELEGESTION_CORE_DATABASE_URL": url,
        "TELEGESTION_CORE_DATA_DIR": str(tmp_path),
        "TELEGESTION_IVR_HEALTH_PORT": str(free_port()),  # nobody listens there
        "TELEGESTION_IVR_SPOOL_DIR": str(tmp_path / "ivr"),
        "TELEGESTION_IVR_DIALPLAN_SPOOL": str(tmp_path / "dialplan.spool"),
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-m", "config.cli", "watchdog", "check"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "KO  Serveur vocal (SVI)" in result.stdout
    assert "OK  Base de données" in result.stdout
    assert "KO  Planificateur des tâches" in result.stdout
    assert "Tâche « Import quotidien du logiciel de planification »" in result.stdout
    (mail,) = alert_env.wait(1)
    assert "Serveur vocal (SVI)" in mail["Subject"]
    assert "Planificateur des tâches" in mail["Subject"]
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        names = {row.name for row in alerts.states(s)}
    engine.dispose()
    assert {"ivr", "database", "scheduler", "disk", "job:flows.daily_import"} <= names
