"""The ``telegestion`` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from ledger.db import make_engine


def telegestion(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELEGESTION_CORE_DATA_DIR": str(data_dir)}
    env.pop("TELEGESTION_CORE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "config.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_migrate_creates_the_embedded_database(tmp_path: Path) -> None:
    result = telegestion("migrate", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'telegestion.sqlite3'}")
    assert {"call_events", "visits", "visit_versions"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_demo_loads_once_then_refuses(tmp_path: Path) -> None:
    args = ("demo", "--workers", "12", "--beneficiaries", "60", "--days", "2")
    first = telegestion(*args, data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "60 bénéficiaires" in first.stdout
    second = telegestion(*args, data_dir=tmp_path)
    assert second.returncode == 1 and "déjà" in second.stdout
    quiet = telegestion(*args, "--if-empty", data_dir=tmp_path)
    assert quiet.returncode == 0


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = telegestion("frobnicate", data_dir=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr
