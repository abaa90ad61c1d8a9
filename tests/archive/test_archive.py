"""Store, journal and verify: a clean archive verifies; each kind of damage is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from archive import journal, pipeline, store
from archive.models import ArchivedStatement, JournalEntry
from archive.settings import ArchiveSettings
from archive.verify import VerifyReport, verify_archive
from kernel.settings import CoreSettings
from ledger import immutability
from ledger.models import Visit
from ledger.motives import Motive
from ledger.service import correct_visit
from ledger.timeutil import paris_to_utc
from tests import factories


def run(
    factory: sessionmaker[Session], core: CoreSettings, settings: ArchiveSettings, **kw: object
) -> pipeline.RunSummary:
    return pipeline.run_month(
        factory,
        core,
        settings,
        2026,
        10,
        triggered_by="test",
        processes=1,
        **kw,  # type: ignore[arg-type]
    )


def verify(
    session: Session, core: CoreSettings, settings: ArchiveSettings, **kw: object
) -> VerifyReport:
    session.expire_all()
    return verify_archive(session, settings, core.data_dir, **kw)  # type: ignore[arg-type]


@pytest.fixture
def archived(
    session_factory: sessionmaker[Session],
    session: Session,
    october: factories.SmallOrg,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> list[ArchivedStatement]:
    summary = run(session_factory, core, archive_settings)
    assert summary.statements == 3 and summary.signed == 3
    return list(session.scalars(select(ArchivedStatement).order_by(ArchivedStatement.id)))


def _unguard(engine: Engine, session: Session) -> None:
    """What an intruder with database access does first: drop the append-only triggers."""
    session.rollback()  # PostgreSQL: DROP TRIGGER waits for open transactions on the table
    with engine.begin() as conn:
        for statement in immutability.drop_statements("archive_journal", engine.dialect.name):
            conn.execute(text(statement))


def _reguard(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in immutability.trigger_statements("archive_journal", engine.dialect.name):
            conn.execute(text(statement))


def test_clean_archive_verifies(
    archived: list[ArchivedStatement],
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    report = verify(session, core, archive_settings)
    assert report.ok, [str(f) for f in report.faults]
    assert report.statements == 3
    kinds = [e.kind for e in session.scalars(select(JournalEntry).order_by(JournalEntry.seq))]
    assert kinds == ["statement.archived"] * 3 + ["journal.sealed"]
    for statement in archived:
        path = store.FileStore.under(core.data_dir).path_of(statement.sha256)
        assert path.name == f"{statement.sha256}.pdf" and path.exists()


def test_verify_as_of_ten_years_later(
    archived: list[ArchivedStatement],
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    later = datetime.now(UTC) + timedelta(days=3660)
    report = verify(session, core, archive_settings, as_of=later)
    assert report.ok, [str(f) for f in report.faults]


def test_flipped_byte_is_named(
    archived: list[ArchivedStatement],
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    target = archived[1]
    path = store.FileStore.under(core.data_dir).path_of(target.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x20
    path.write_bytes(bytes(data))
    report = verify(session, core, archive_settings)
    kinds = {(f.kind, f.where) for f in report.faults}
    where = f"état {target.id} (bénéficiaire {target.beneficiary_id}, 2026-10, v1) : {path}"
    assert ("hash_mismatch", where) in kinds
    assert ("bad_signature", where) in kinds
    assert all(str(path) in f.where for f in report.faults)


def test_deleted_file_is_named(
    archived: list[ArchivedStatement],
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    target = archived[0]
    path = store.FileStore.under(core.data_dir).path_of(target.sha256)
    path.unlink()
    report = verify(session, core, archive_settings)
    assert [(f.kind, f.problem) for f in report.faults] == [("missing_file", "fichier absent")]
    assert f"état {target.id}" in report.faults[0].where and str(path) in report.faults[0].where


def test_journal_is_append_only_in_the_database(
    archived: list[ArchivedStatement], engine: Engine
) -> None:
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("UPDATE archive_journal SET kind = 'x' WHERE seq = 1"))
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("DELETE FROM archive_journal WHERE seq = 2"))


def test_edited_journal_row_is_named(
    archived: list[ArchivedStatement],
    session: Session,
    engine: Engine,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    _unguard(engine, session)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE archive_journal SET kind = 'statement.archivedX' WHERE seq = 2")
            )
    finally:
        _reguard(engine)
    report = verify(session, core, archive_settings)
    journal_faults = [f for f in report.faults if f.kind == "journal"]
    assert [f.where for f in journal_faults] == ["journal n° 2"]
    assert "entrée modifiée" in journal_faults[0].problem
    # The statement row lost its matching journal entry, and says so.
    assert any(f.kind == "record" and f"état {archived[1].id}" in f.where for f in report.faults)


def test_reordered_journal_entries_are_named(
    archived: list[ArchivedStatement],
    session: Session,
    engine: Engine,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    _unguard(engine, session)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE archive_journal SET seq = 100 WHERE seq = 1"))
            conn.execute(text("UPDATE archive_journal SET seq = 1 WHERE seq = 2"))
            conn.execute(text("UPDATE archive_journal SET seq = 2 WHERE seq = 100"))
    finally:
        _reguard(engine)
    report = verify(session, core, archive_settings)
    wheres = {f.where for f in report.faults if f.kind == "journal"}
    assert {"journal n° 1", "journal n° 2"} <= wheres
    assert any("chaînage rompu" in f.problem for f in report.faults)


def test_deleted_journal_row_is_named(
    archived: list[ArchivedStatement],
    session: Session,
    engine: Engine,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    _unguard(engine, session)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE archive_journal SET statement_id = NULL WHERE seq = 2"))
            conn.execute(text("DELETE FROM archive_journal WHERE seq = 2"))
    finally:
        _reguard(engine)
    report = verify(session, core, archive_settings)
    problems = [f.problem for f in report.faults if f.where == "journal n° 3"]
    assert any("manquante" in p for p in problems) and any("chaînage rompu" in p for p in problems)


def test_corrected_month_makes_version_2_linked_to_version_1(
    archived: list[ArchivedStatement],
    session_factory: sessionmaker[Session],
    session: Session,
    october: factories.SmallOrg,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    again = run(session_factory, core, archive_settings)
    assert (again.signed, again.unchanged) == (0, 3)

    visit = session.scalars(select(Visit).where(Visit.beneficiary_id == october.ben_b1.id)).one()
    correct_visit(
        session,
        visit,
        started_at=paris_to_utc(datetime(2026, 10, 25, 2, 0)),
        ended_at=paris_to_utc(datetime(2026, 10, 25, 4, 0)),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="manager",
    )
    session.commit()
    corrected = run(session_factory, core, archive_settings)
    assert (corrected.signed, corrected.new_versions, corrected.unchanged) == (1, 1, 2)

    session.expire_all()
    versions = session.scalars(
        select(ArchivedStatement)
        .where(ArchivedStatement.beneficiary_id == october.ben_b1.id)
        .order_by(ArchivedStatement.version)
    ).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].supersedes_id == versions[0].id
    assert versions[0].sha256 != versions[1].sha256
    files = store.FileStore.under(core.data_dir)
    assert files.path_of(versions[0].sha256).exists() and files.path_of(versions[1].sha256).exists()
    report = verify(session, core, archive_settings)
    assert report.ok, [str(f) for f in report.faults]
    assert report.statements == 4


def test_purge_after_ten_years_leaves_a_journal_entry(
    archived: list[ArchivedStatement],
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    assert store.purge_expired(session, retention_years=10, actor="admin") == []
    eleven_years = datetime(2037, 11, 1, tzinfo=UTC)
    purged = store.purge_expired(session, retention_years=10, actor="admin", now=eleven_years)
    session.commit()
    files = store.FileStore.under(core.data_dir)
    store.delete_purged_files(files, purged)
    assert {s.id for s in purged} == {s.id for s in archived}
    entries = session.scalars(
        select(JournalEntry).where(JournalEntry.kind == "statement.purged")
    ).all()
    assert sorted(e.statement_id for e in entries) == sorted(s.id for s in archived)  # type: ignore[type-var]
    assert not any(files.path_of(s.sha256).exists() for s in archived)
    report = verify(session, core, archive_settings)
    assert report.ok, [str(f) for f in report.faults]


def test_journal_seal_detects_a_rewritten_chain(
    archived: list[ArchivedStatement],
    session: Session,
    engine: Engine,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    """Rewriting an entry and recomputing every later hash still breaks the seal."""
    entries = session.scalars(select(JournalEntry).order_by(JournalEntry.seq)).all()
    prev = journal.GENESIS
    rewritten = []
    for entry in entries:
        payload = dict(entry.payload)
        if entry.seq == 1:
            payload["triggered_by"] = "someone-else"
        new_hash = journal.entry_hash(
            entry.seq, entry.at, entry.kind, entry.statement_id, payload, prev
        )
        rewritten.append((entry.seq, payload, prev, new_hash))
        prev = new_hash
    _unguard(engine, session)
    try:
        with engine.begin() as conn:
            for seq, payload, prev_hash, new_hash in rewritten:
                if seq == len(entries):
                    continue  # the seal entry itself stays as it was
                conn.execute(
                    JournalEntry.__table__.update()  # type: ignore[attr-defined]
                    .where(JournalEntry.seq == seq)
                    .values(payload=payload, prev_hash=prev_hash, entry_hash=new_hash)
                )
    finally:
        _reguard(engine)
    report = verify(session, core, archive_settings)
    sealed_seq = len(entries)
    assert any(f.where == f"journal n° {sealed_seq}" for f in report.faults)


def test_every_crl_is_kept_and_old_seals_still_verify(
    archived: list[ArchivedStatement],
    session: Session,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> None:
    from archive.pki import pki_paths, refresh_crl
    from archive.signing import load_trust

    paths = pki_paths(core.data_dir)
    before = len(load_trust(archive_settings, core.data_dir).crls)
    refresh_crl(paths)
    refresh_crl(paths)
    assert len(load_trust(archive_settings, core.data_dir).crls) == before + 2
    report = verify(session, core, archive_settings)
    assert report.ok, [str(f) for f in report.faults]
