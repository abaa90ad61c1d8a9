"""Back up, destroy, restore, verify — through the real command (SQLite; PostgreSQL with
pgBackRest in test_backup_pgbackrest.py)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from config import backup
from ledger.db import make_engine
from ledger.timeutil import Month, paris_date
from ledger.timeutil import utc_now as now_utc
from tests.config.fresh import PG_URL, telegestion

pytestmark = pytest.mark.skipif(
    bool(PG_URL), reason="the embedded SQLite's backup; PostgreSQL: test_backup_pgbackrest.py"
)

LAST_MONTH = Month.of(paris_date(now_utc())).previous()


def _ok(*args: str, data_dir: Path, url: str) -> str:
    result = telegestion(*args, data_dir=data_dir, url=url)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def load_small_month(data_dir: Path, url: str) -> None:
    """A small demo organisation, a month of visits, that month archived (signed)."""
    _ok(
        "demo",
        "--workers",
        "8",
        "--beneficiaries",
        "12",
        "--days",
        "40",
        data_dir=data_dir,
        url=url,
    )
    _ok("archive", "init-pki", data_dir=data_dir, url=url)
    _ok(
        "archive", "run", "--month", str(LAST_MONTH), "--processes", "1", data_dir=data_dir, url=url
    )
    # A flow file received, as the daily import leaves it.
    inbox = data_dir / "flows" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "intervenants_20261201.csv").write_text("matricule;nom\nSAL1;Durand\n")


@pytest.fixture(scope="module")
def _made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Made once per module (a demo month and its archive take a while): data dir, backup."""
    root = tmp_path_factory.mktemp("made")
    data_dir = root / "var"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'telegestion.sqlite3'}"
    load_small_month(data_dir, url)
    out = _ok("backup", data_dir=data_dir, url=url)
    [folder] = sorted((data_dir / "backups").glob("backup-*"))
    assert str(folder) in out
    # Keep the backup outside what is destroyed.
    kept = root / "kept" / folder.name
    shutil.move(folder, kept)
    return data_dir, kept


@pytest.fixture
def instance(tmp_path: Path, _made: tuple[Path, Path]) -> tuple[Path, str, Path]:
    """A copy of the instance and its backup for one test to spoil."""
    data_dir = tmp_path / "var"
    shutil.copytree(_made[0], data_dir)
    folder = tmp_path / "kept" / _made[1].name
    shutil.copytree(_made[1], folder)
    return data_dir, f"sqlite:///{data_dir / 'telegestion.sqlite3'}", folder


def test_backup_destroy_restore_verify_is_equal(
    tmp_path: Path, instance: tuple[Path, str, Path]
) -> None:
    data_dir, url, folder = instance
    before = backup.table_digests(make_engine(url))
    assert before["archive_statements"]["rows"] > 0 and before["visit_versions"]["rows"] > 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "data/flows/inbox/intervenants_20261201.csv" in manifest["files"]
    assert not any(name.endswith("extranet-secret-key") for name in manifest["files"])
    shutil.rmtree(data_dir)  # destroyed: database, archive store, flow files

    out = _ok("restore", str(folder), data_dir=data_dir, url=url)
    assert "restaurée" in out
    engine = make_engine(url)
    after = backup.table_digests(engine)
    engine.dispose()
    assert after == before  # row counts and content hashes, table by table
    assert (
        (data_dir / "flows" / "inbox" / "intervenants_20261201.csv")
        .read_text()
        .startswith("matricule")
    )
    verified = _ok("backup", "verify", str(folder), data_dir=data_dir, url=url)
    assert "Restauration conforme" in verified and "état(s)" in verified
    archive = _ok("archive", "verify", data_dir=data_dir, url=url)
    assert "Archive intègre" in archive


def test_verify_finds_a_changed_restored_row(instance: tuple[Path, str, Path]) -> None:
    data_dir, url, folder = instance
    shutil.rmtree(data_dir)
    _ok("restore", str(folder), data_dir=data_dir, url=url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE beneficiaries SET last_name = 'X' WHERE id = 1"))
    engine.dispose()
    result = telegestion("backup", "verify", str(folder), data_dir=data_dir, url=url)
    assert result.returncode == 1
    assert "table beneficiaries : contenu différent de la sauvegarde" in result.stdout


def _first_file(folder: Path, prefix: str) -> Path:
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder / next(name for name in sorted(manifest["files"]) if name.startswith(prefix))


def test_a_flipped_byte_is_refused_before_anything_is_restored(
    instance: tuple[Path, str, Path],
) -> None:
    data_dir, url, folder = instance
    shutil.rmtree(data_dir)
    victim = _first_file(folder, "data/archive/files/")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    result = telegestion("restore", str(folder), data_dir=data_dir, url=url)
    assert result.returncode == 1
    name = victim.relative_to(folder).as_posix()
    assert "sauvegarde refusée, 1 anomalie(s)" in result.stderr
    assert f"fichier altéré (empreinte SHA-256 différente) : {name}" in result.stderr
    assert not (data_dir / "telegestion.sqlite3").exists()


def test_a_missing_file_or_an_edited_manifest_is_refused(
    instance: tuple[Path, str, Path],
) -> None:
    data_dir, url, folder = instance
    shutil.rmtree(data_dir)
    (folder / "database.sqlite3").unlink()
    result = telegestion("restore", str(folder), data_dir=data_dir, url=url)
    assert result.returncode == 1 and "fichier manquant : database.sqlite3" in result.stderr
    manifest = folder / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"sqlite"', b'"sqlitf"'))
    result = telegestion("restore", str(folder), data_dir=data_dir, url=url)
    assert result.returncode == 1 and "manifest.json a été modifié" in result.stderr


def test_restore_refuses_an_instance_that_is_not_empty(instance: tuple[Path, str, Path]) -> None:
    data_dir, url, folder = instance
    result = telegestion("restore", str(folder), data_dir=data_dir, url=url)
    assert result.returncode == 1 and "n'est pas vide" in result.stderr


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    for stamp in ("20261201T013000Z", "20261202T013000Z", "20261203T013000Z"):
        (tmp_path / f"backup-{stamp}").mkdir()
        (tmp_path / f"backup-{stamp}" / "manifest.json").write_text("{}")
    removed = backup.apply_retention(tmp_path, keep=2)
    assert [p.name for p in removed] == ["backup-20261201T013000Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "backup-20261202T013000Z",
        "backup-20261203T013000Z",
    ]


def test_the_daily_job_backs_up_into_the_run_journal_and_restores(
    tmp_path: Path, instance: tuple[Path, str, Path]
) -> None:
    data_dir, url, _ = instance
    _ok("jobs", "run", "config.backup", data_dir=data_dir, url=url)
    engine = make_engine(url)
    with engine.connect() as conn:
        status, counts = conn.execute(
            text("SELECT status, counts FROM flows_job_runs WHERE job_name = 'config.backup'")
        ).one()
    engine.dispose()
    assert status == "success" and json.loads(counts)["tables"] > 20
    [folder] = sorted((data_dir / "backups").glob("backup-*"))
    kept = tmp_path / "elsewhere" / folder.name
    shutil.move(folder, kept)
    shutil.rmtree(data_dir)
    _ok("restore", str(kept), data_dir=data_dir, url=url)
    assert "Restauration conforme" in _ok("backup", "verify", str(kept), data_dir=data_dir, url=url)


def test_retention_through_the_command(instance: tuple[Path, str, Path]) -> None:
    data_dir, url, _ = instance
    keep_one = {"TELEGESTION_BACKUP_KEEP": "1"}
    first = telegestion("backup", data_dir=data_dir, url=url, env=keep_one)
    assert first.returncode == 0, first.stderr
    time.sleep(1.1)  # backup folders are named to the second
    second = telegestion("backup", data_dir=data_dir, url=url, env=keep_one)
    assert second.returncode == 0, second.stderr
    assert "Ancienne sauvegarde supprimée (conservation : 1)" in second.stdout
    assert len(list((data_dir / "backups").glob("backup-*"))) == 1
