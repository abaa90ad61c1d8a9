"""An empty database of its own for tests that run the real ``telegestion`` command.

The suite's shared PostgreSQL database is built with ``create_all`` (no
Alembic history), so a command that migrates gets a new database on the same
cluster; on SQLite, a new file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("TELEGESTION_TEST_DATABASE_URL", "")


@contextmanager
def fresh_database(folder: Path, name: str = "telegestion") -> Iterator[str]:
    """Yield the URL of an empty database (dropped afterwards on PostgreSQL)."""
    if not PG_URL:
        yield f"sqlite:///{folder / (name + '.sqlite3')}"
        return
    database = f"t_{name}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def telegestion(
    *args: str, data_dir: Path, url: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``telegestion`` as a user would, on this data dir and database."""
    full = {
        **os.environ,
        "TELEGESTION_CORE_DATA_DIR": str(data_dir),
        "TELEGESTION_CORE_DATABASE_URL": url,
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "config.cli", *args],
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
