"""The read API the extranet uses, the export and the scheduled job."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import pipeline
from archive.export import SEDA_NS, export_archive
from archive.jobs import jobs, run_monthly
from archive.models import ArchivedStatement
from archive.service import StatementUnavailable, open_statement, statements_for
from archive.settings import ArchiveSettings
from archive.store import FileStore
from kernel.jobs import JobContext, RunStatus
from kernel.scheduler import run_job
from kernel.settings import CoreSettings, SettingsError
from ledger import service
from ledger.models import Visit
from ledger.motives import Motive
from ledger.timeutil import Month
from tests import factories


@pytest.fixture
def archived(
    session_factory: sessionmaker[Session],
    october: factories.SmallOrg,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> factories.SmallOrg:
    pipeline.run_month(
        session_factory, core, archive_settings, 2026, 10, triggered_by="test", processes=2
    )
    return october


def test_statements_are_scoped_by_antenna_and_beneficiary(
    archived: factories.SmallOrg, session: Session
) -> None:
    north = statements_for(session, antenna_ids=[archived.antenna_a.id], month=(2026, 10))
    assert {s.beneficiary_id for s in north} == {archived.ben_a1.id, archived.ben_a2.id}
    south = statements_for(session, antenna_ids=[archived.antenna_b.id])
    assert [s.beneficiary_id for s in south] == [archived.ben_b1.id]
    one = statements_for(session, [archived.ben_a2.id])
    assert [(s.year, s.month, s.version) for s in one] == [(2026, 10, 1)]
    assert statements_for(session, month=(2026, 9)) == []


def test_open_statement_serves_the_signed_pdf_and_refuses_an_altered_one(
    archived: factories.SmallOrg, session: Session, core: CoreSettings
) -> None:
    [row] = statements_for(session, [archived.ben_a1.id])
    data = open_statement(core, row)
    assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() == row.sha256
    assert open_statement(core.data_dir, row) == data
    path = FileStore.under(core.data_dir).path_of(row.sha256)
    path.write_bytes(data[:-10])
    with pytest.raises(StatementUnavailable, match="altéré"):
        open_statement(core, row)
    path.unlink()
    with pytest.raises(StatementUnavailable, match="introuvable"):
        open_statement(core, row)


def test_export_writes_files_journal_and_a_seda_manifest(
    archived: factories.SmallOrg,
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
    tmp_path: Path,
) -> None:
    target = tmp_path / "export"
    result = export_archive(session, archive_settings, core, target)
    rows = session.query(ArchivedStatement).all()
    assert result.files == len(rows) == 3
    tree = etree.parse(str(result.manifest))
    ns = {"s": SEDA_NS}
    assert tree.getroot().tag == f"{{{SEDA_NS}}}ArchiveTransfer"
    objects = tree.findall(".//s:BinaryDataObject", ns)
    assert len(objects) == 4  # three statements and the journal
    for obj in objects:
        uri = obj.findtext("s:Uri", namespaces=ns)
        digest = obj.findtext("s:MessageDigest", namespaces=ns)
        assert uri is not None and digest is not None
        assert hashlib.sha256((target / uri).read_bytes()).hexdigest() == digest
    assert {f"content/{r.sha256}.pdf" for r in rows} <= {
        o.findtext("s:Uri", namespaces=ns) for o in objects
    }
    lines = (target / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4  # three archived, one seal
    assert (target / "trust" / "ca.pem").exists() and (target / "trust" / "crl.pem").exists()


def test_monthly_job_signs_closed_months_only(
    october: factories.SmallOrg,
    session_factory: sessionmaker[Session],
    core: CoreSettings,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [job] = [j for j in jobs(ArchiveSettings()) if j.name == "archive.monthly_statements"]
    assert job.name == "archive.monthly_statements"
    assert job.cron == {"hour": "2", "minute": "30"}  # daily: the night after a close
    monkeypatch.setenv("TELEGESTION_CORE_DATABASE_URL", core.effective_database_url)
    monkeypatch.setenv("TELEGESTION_CORE_DATA_DIR", str(core.data_dir))
    monkeypatch.setenv("TELEGESTION_ARCHIVE_PROCESSES", "1")
    asked = run_job(job, session_factory, core.data_dir, params={"month": "2026-10"})
    assert asked.status is RunStatus.SUCCESS
    assert "Mois de octobre 2026 non clôturé" in asked.message
    assert session.query(ArchivedStatement).count() == 0
    assert factories.close_month(session, Month(2026, 10)) == 1
    scheduled = run_job(job, session_factory, core.data_dir)
    assert scheduled.status is RunStatus.SUCCESS, scheduled.message
    assert scheduled.counts["signed"] == 3 and scheduled.counts["revision_2026-10"] == 1
    assert {s.triggered_by for s in session.query(ArchivedStatement)} == {"scheduler"}
    again = run_job(job, session_factory, core.data_dir)
    assert again.counts == {"mois": 0} and "Aucun mois clôturé en attente" in again.message
    assert session.query(ArchivedStatement).count() == 3
    direct = run_monthly(
        JobContext(session_factory, core.data_dir, "referent", {"month": "2026-10"})
    )
    assert direct.counts["unchanged"] == 3  # the same figures are not signed twice


def test_after_a_reopen_a_changed_statement_is_version_2_linked_to_version_1(
    october: factories.SmallOrg,
    session_factory: sessionmaker[Session],
    core: CoreSettings,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGESTION_CORE_DATABASE_URL", core.effective_database_url)
    monkeypatch.setenv("TELEGESTION_CORE_DATA_DIR", str(core.data_dir))
    monkeypatch.setenv("TELEGESTION_ARCHIVE_PROCESSES", "1")
    [job] = [j for j in jobs(ArchiveSettings()) if j.name == "archive.monthly_statements"]
    factories.close_month(session, Month(2026, 10))
    assert run_job(job, session_factory, core.data_dir).counts["signed"] == 3
    factories.reopen_month(session, Month(2026, 10), "Visite du 13 à corriger")
    visit = session.scalars(
        select(Visit).where(Visit.beneficiary_id == october.ben_a2.id).order_by(Visit.started_at)
    ).first()
    assert visit is not None and visit.started_at is not None
    service.correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=visit.started_at + timedelta(minutes=45),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    session.commit()
    assert run_job(job, session_factory, core.data_dir).counts == {"mois": 0}  # reopened: waits
    assert factories.close_month(session, Month(2026, 10)) == 2
    second = run_job(job, session_factory, core.data_dir)
    assert (second.counts["signed"], second.counts["new_versions"]) == (1, 1)
    assert second.counts["revision_2026-10"] == 2
    versions = session.scalars(
        select(ArchivedStatement)
        .where(ArchivedStatement.beneficiary_id == october.ben_a2.id)
        .order_by(ArchivedStatement.version)
    ).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].supersedes_id == versions[0].id


def test_bad_deadline_is_a_clear_settings_error() -> None:
    with pytest.raises(SettingsError, match="correction_deadline_day"):
        ArchiveSettings(correction_deadline_day=31)
