"""PostgreSQL backups through a real pgBackRest, with WAL archiving and point-in-time restore.

The test starts its own cluster (archive_mode=on, archive_command = pgBackRest's
archive-push) in /tmp on port 55533, so it needs the PostgreSQL server binaries
and the Debian package pgbackrest; it runs when the suite runs on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from config import backup
from ledger.db import make_engine
from tests.config.fresh import PG_URL, telegestion
from tests.config.test_backup import load_small_month

PORT = 55533
BIN = (
    sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    if Path("/usr/lib/postgresql").exists()
    else None
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="runs with the PostgreSQL half of the suite"),
    pytest.mark.skipif(shutil.which("pgbackrest") is None, reason="Debian package pgbackrest"),
]


def as_pg(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *argv], capture_output=True, text=True, check=check, timeout=300
    )


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.pgdata = base / "pg"
        self.conf = base / "pgbackrest.conf"
        self.url = f"postgresql+psycopg://telegestion@127.0.0.1:{PORT}/telegestion"

    def start(self) -> None:
        log = self.base / "pg.log"
        started = as_pg(str(BIN / "pg_ctl"), "-D", str(self.pgdata), "-l", str(log),
                        "-w", "-t", "120", "start", check=False)  # fmt: skip
        assert started.returncode == 0, log.read_text()[-3000:] if log.exists() else started.stderr
        engine = create_engine(self.url.rsplit("/", 1)[0] + "/postgres")
        deadline = time.monotonic() + 120
        while True:  # promoted (out of recovery) once the restore's WAL are replayed
            try:
                with engine.connect() as conn:
                    if not conn.scalar(text("SELECT pg_is_in_recovery()")):
                        break
            except Exception:  # noqa: BLE001, S110 - not accepting connections yet
                pass
            assert time.monotonic() < deadline, (self.base / "pg.log").read_text()[-3000:]
            time.sleep(0.3)
        engine.dispose()

    def stop(self) -> None:
        as_pg(str(BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)

    def wipe(self) -> None:
        shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        shutil.chown(self.pgdata, "postgres", "postgres")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    base = Path(tempfile.mkdtemp(prefix="ops-pgbackrest-", dir="/tmp"))
    base.chmod(0o755)
    shutil.chown(base, "postgres", "postgres")  # the server writes its log here
    cl = Cluster(base)
    for name in ("pg", "repo", "log", "lock", "sock"):
        (base / name).mkdir(mode=0o700)
        shutil.chown(base / name, "postgres", "postgres")
    cl.conf.write_text(
        "[global]\n"
        f"repo1-path={base / 'repo'}\nlog-path={base / 'log'}\nlock-path={base / 'lock'}\n"
        "start-fast=y\nlog-level-console=warn\n"
        "[telegestion]\n"
        f"pg1-path={cl.pgdata}\npg1-port={PORT}\npg1-socket-path={base / 'sock'}\n"
        "pg1-user=telegestion\n"
    )
    as_pg(str(BIN / "initdb"), "-D", str(cl.pgdata), "-U", "telegestion", "--auth=trust",
          "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
    with open(cl.pgdata / "postgresql.conf", "a") as conf:
        conf.write(
            f"port = {PORT}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = "
            f"'{base / 'sock'}'\nwal_level = replica\narchive_mode = on\n"
            f"archive_command = 'pgbackrest --config={cl.conf} --stanza=telegestion "
            "archive-push %p'\n"
        )
    try:
        cl.start()
        as_pg(str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(PORT), "-U", "telegestion",
              "telegestion")  # fmt: skip
        yield cl
    finally:
        cl.stop()
        shutil.rmtree(base, ignore_errors=True)


def _run(cl: Cluster, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return telegestion(
        *args,
        data_dir=data_dir,
        url=cl.url,
        env={
            "TELEGESTION_BACKUP_DIR": str(cl.base / "backups"),
            "TELEGESTION_BACKUP_PGBACKREST_CONFIG": str(cl.conf),
            "TELEGESTION_BACKUP_PGBACKREST_COMMAND": (
                "runuser -u postgres -- pgbackrest" if os.geteuid() == 0 else "pgbackrest"
            ),
        },
    )


def _mark(cl: Cluster, key: str) -> None:
    engine = create_engine(cl.url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value, enabled) VALUES (:k, 'x', true)"),
                     {"k": key})  # fmt: skip
    engine.dispose()


def _marks(cl: Cluster) -> set[str]:
    engine = create_engine(cl.url)
    with engine.connect() as conn:
        found = set(conn.scalars(text("SELECT key FROM settings WHERE key LIKE 'mark.%'")))
    engine.dispose()
    return found


def _archive_wal(cl: Cluster) -> None:
    """Close the current WAL segment and wait until pgBackRest has archived it."""
    engine = create_engine(cl.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        done = conn.scalar(text("SELECT archived_count FROM pg_stat_archiver"))
        conn.execute(text("SELECT pg_switch_wal()"))
        deadline = time.monotonic() + 60
        while conn.scalar(text("SELECT archived_count FROM pg_stat_archiver")) <= done:
            assert time.monotonic() < deadline, "WAL not archived"
            time.sleep(0.2)
    engine.dispose()


def test_backup_destroy_restore_verify_and_point_in_time(cluster: Cluster) -> None:
    data_dir = cluster.base / "var"
    data_dir.mkdir()
    assert telegestion("migrate", data_dir=data_dir, url=cluster.url).returncode == 0
    load_small_month(data_dir, cluster.url)
    made = _run(cluster, data_dir, "backup")
    assert made.returncode == 0, made.stderr
    [folder] = sorted((cluster.base / "backups").glob("backup-*"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["backend"] == "postgresql" and manifest["pgbackrest"]["label"].endswith("F")
    engine = make_engine(cluster.url)
    before = backup.table_digests(engine)
    engine.dispose()
    assert before["archive_statements"]["rows"] > 0

    # After the backup: one change before the chosen instant, one after.
    _mark(cluster, "mark.before")
    time.sleep(1.2)
    instant = datetime.now(UTC)
    time.sleep(1.2)
    _mark(cluster, "mark.after")
    _archive_wal(cluster)

    # Destroy everything, restore the backup itself.
    cluster.stop()
    cluster.wipe()
    shutil.rmtree(data_dir)
    restored = _run(cluster, data_dir, "restore", str(folder))
    assert restored.returncode == 0, restored.stderr
    assert "démarrez PostgreSQL" in restored.stdout
    cluster.start()
    engine = make_engine(cluster.url)
    assert backup.table_digests(engine) == before
    engine.dispose()
    assert _marks(cluster) == set()
    verified = _run(cluster, data_dir, "backup", "verify", str(folder))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Restauration conforme" in verified.stdout

    # Point in time: the archived WAL replayed up to the instant, not beyond.
    cluster.stop()
    cluster.wipe()
    shutil.rmtree(data_dir)
    restored = _run(cluster, data_dir, "restore", str(folder), "--to-time", instant.isoformat())
    assert restored.returncode == 0, restored.stderr
    cluster.start()
    assert _marks(cluster) == {"mark.before"}
    verified = _run(cluster, data_dir, "backup", "verify", str(folder))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A flipped byte in the backup: refused before pgBackRest is even called.
    victim = next(folder.glob("data/archive/files/*/*/*.pdf"))
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    cluster.stop()
    refused = _run(cluster, cluster.base / "empty", "restore", str(folder))
    assert refused.returncode == 1 and "fichier altéré" in refused.stderr
