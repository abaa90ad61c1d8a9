"""A scheduled day on a demo organisation: files in from SFTP, calls, files out to SFTP.

Every step goes through ``run_job``, the path both the scheduler and
``telegestion jobs run`` take, so each is in the run journal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.jobs import collect_jobs
from demo.organisation import load_demo
from flows import jobs as flows_jobs
from flows import snapshot
from kernel.jobs import RunStatus, ScheduledJob
from kernel.runs import JobRun
from kernel.scheduler import run_job
from ledger import service
from ledger.models import Beneficiary, Phone, Visit, VisitStatus, Worker
from ledger.pairing import Direction
from ledger.timeutil import Month
from tests import factories
from tests.config.test_cli import telegestion
from tests.flows.conftest import SshServer
from tests.ledger.test_service import record

DAY = date(2026, 11, 23)


def job(name: str) -> ScheduledJob:
    return {j.name: j for j in collect_jobs()}[name]


@pytest.fixture
def sftp_env(sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> SshServer:
    for name, value in sshd.environment().items():
        monkeypatch.setenv(name, value)
    return sshd


def _edit(path: Path, edit: dict[str, tuple[int, str]], drop: str = "", add: str = "") -> None:
    """Change fields of lines by id (column index, value), drop a line, append one."""
    lines = path.read_bytes().decode().split("\r\n")
    out = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        values = line.split(";")
        if values[0] == drop:
            continue
        if values[0] in edit:
            index, value = edit[values[0]]
            values[index] = value
        out.append(";".join(values))
    if add:
        out.append(add)
    path.write_bytes("\r\n".join(out).encode("cp1252") + b"\r\n")


@pytest.mark.sftp
def test_a_scheduled_day_on_the_demo_organisation(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    sftp_env: SshServer,
    sftp_root: Path,
) -> None:
    load_demo(
        session,
        seed=5,
        workers=8,
        beneficiaries=20,
        days=3,
        now=datetime(2026, 11, 22, 20, tzinfo=UTC),
    )
    session.commit()
    # The planning software's files of the morning: yesterday's state, with changes.
    incoming = sftp_root / "in"
    w_file = snapshot.write_workers(session, incoming, DAY).path
    b_file = snapshot.write_beneficiaries(session, incoming, DAY).path
    bens = sorted(session.scalars(select(Beneficiary)), key=lambda b: b.external_id)
    workers = sorted(session.scalars(select(Worker)), key=lambda w: w.external_id)
    moved, dropped = bens[0], workers[-1]
    first_line = b_file.read_bytes().decode().split("\r\n")[1].split(";")
    newcomer = first_line.copy()
    newcomer[0:4] = ["NOUV-001", "MME", "Bézier", "Agnès"]
    newcomer[12:15] = ["01 43 55 66 77", "", ""]
    _edit(b_file, {moved.external_id: (12, "06 11 22 33 44")}, add=";".join(newcomer))
    _edit(w_file, {}, drop=dropped.external_id)
    (incoming / "notes.txt").write_text("pas un fichier de flux")

    run = run_job(job("flows.daily_import"), session_factory, data_dir)
    assert run.status is RunStatus.PARTIAL, run.message  # the unknown notes.txt stays, reported
    assert run.counts["fichiers"] == 2 and run.counts["rejetees"] == 0
    assert (run.counts["creees"], run.counts["terminees"]) == (1, 1)
    assert sorted(p.name for p in incoming.iterdir() if p.is_file()) == ["notes.txt"]
    assert (incoming / "processed" / w_file.name).exists()
    assert (data_dir / "flows" / "inbox").is_dir()

    session.expire_all()
    newcomer_ben = session.scalars(
        select(Beneficiary).where(Beneficiary.external_id == "NOUV-001")
    ).one()
    assert newcomer_ben.last_name == "Bézier"
    assert session.get_one(Worker, dropped.id).active_until == DAY - timedelta(days=1)
    numbers = {
        p.e164: p.active_until
        for p in session.scalars(select(Phone).where(Phone.beneficiary_id == moved.id))
    }
    assert numbers["+33611223344"] is None

    # The day's calls, through the ledger's one write path, found by the new number.
    found = service.find_beneficiary_by_number(session, "0143556677", DAY)
    assert found is not None and found.id == newcomer_ben.id
    worker = workers[0]
    t0 = datetime(2026, 11, 23, 8, 0, 20, tzinfo=UTC)
    for channel, moment, direction in (
        ("e2e-1", t0, Direction.ARRIVAL),
        ("e2e-2", t0 + timedelta(minutes=75), Direction.DEPARTURE),
    ):
        service.record_call(
            session,
            record(
                channel, moment, worker_id=worker.id, beneficiary_id=found.id, direction=direction
            ),
        )
    session.commit()

    run = run_job(
        job("flows.daily_export"), session_factory, data_dir, params={"date": "2026-11-23"}
    )
    assert run.status is RunStatus.SUCCESS, run.message
    assert run.files == ["flows/outbox/horodatages_20261123.csv"]
    sent = (sftp_root / "out" / "horodatages_20261123.csv").read_bytes().decode()
    line = [row for row in sent.split("\r\n") if ";NOUV-001;" in row]
    assert len(line) == 1
    assert ";2026-11-23T09:00:20+01:00;2026-11-23T10:15:20+01:00;" in line[0]
    assert ";75;" in line[0]
    assert (sftp_root / "out" / "horodatages_20261123.csv.sha256").exists()

    # November is not closed yet: nothing leaves. Closed, the file goes.
    early = run_job(
        job("flows.monthly_export"), session_factory, data_dir, params={"month": "2026-11"}
    )
    assert "non clôturé" in early.message
    assert not (sftp_root / "out" / "prestations_202611.csv").exists()
    factories.close_month(session, Month(2026, 11))
    monthly = run_job(job("flows.monthly_export"), session_factory, data_dir)
    assert monthly.status is RunStatus.SUCCESS, monthly.message
    assert monthly.counts["revision_2026-11"] == 1
    done = (sftp_root / "out" / "prestations_202611.csv").read_bytes().decode().split("\r\n")[1:-1]
    expected = session.scalars(
        select(Visit.id).where(
            Visit.service_date >= date(2026, 11, 1),
            Visit.status != VisitStatus.DELETED,
            Visit.started_at.is_not(None),
            Visit.ended_at.is_not(None),
        )
    ).all()
    assert sorted(int(row.split(";")[0]) for row in done) == sorted(expected)

    # Re-send a past file after the planning software lost it.
    (sftp_root / "out" / "horodatages_20261123.csv").unlink()
    stored = session.get_one(JobRun, run.id)
    assert flows_jobs.resend(list(stored.files), data_dir) == [
        "flows/outbox/horodatages_20261123.csv"
    ]
    assert (sftp_root / "out" / "horodatages_20261123.csv").read_bytes().decode() == sent

    journal = session.scalars(select(JobRun.job_name).order_by(JobRun.id)).all()
    assert journal == [
        "flows.daily_import",
        "flows.daily_export",
        "flows.monthly_export",
        "flows.monthly_export",
    ]


def test_cli_journey_list_run_history_resend(tmp_path: Path) -> None:
    assert (
        telegestion(
            "demo", "--workers", "6", "--beneficiaries", "12", "--days", "3", data_dir=tmp_path
        ).returncode
        == 0
    )
    listed = telegestion("jobs", "list", data_dir=tmp_path)
    assert listed.returncode == 0 and "flows.daily_import" in listed.stdout

    ran = telegestion(
        "jobs",
        "run",
        "flows.daily_export",
        "--param",
        "date=2026-11-23",
        "--by",
        "marie",
        data_dir=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "exécution 1 : Réussi" in ran.stdout
    remote = tmp_path / "flows" / "remote" / "out" / "horodatages_20261123.csv"
    assert remote.is_file()
    remote.unlink()

    resent = telegestion("jobs", "resend", "1", data_dir=tmp_path)
    assert resent.returncode == 0, resent.stderr
    assert remote.is_file()
    history = telegestion("jobs", "history", data_dir=tmp_path)
    assert "flows.daily_export" in history.stdout

    unknown = telegestion("jobs", "run", "flows.nothing", data_dir=tmp_path)
    assert unknown.returncode == 2
    bad = telegestion(
        "jobs",
        "run",
        "flows.daily_import",
        "--param",
        "file=/nonexistent/intervenants_20261123.csv",
        data_dir=tmp_path,
    )
    assert bad.returncode == 1 and "Échec" in bad.stdout
