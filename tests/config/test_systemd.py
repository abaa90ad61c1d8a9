"""The production systemd units: systemd's own checker, and in step with ``telegestion run``."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.supervisor import SERVICES

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/telegestion/.venv/bin/telegestion"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def test_one_unit_per_part_that_telegestion_run_supervises() -> None:
    services = {p.name for p in UNITS.glob("telegestion-*.service")}
    parts = {f"telegestion-{name}.service" for name, _ in SERVICES}
    assert parts <= services
    target = unit("telegestion.target")["Unit"]["Wants"].split()
    assert set(target) == parts
    for name, command in SERVICES:
        found = unit(f"telegestion-{name}.service")
        assert found["Service"]["ExecStart"] == " ".join((INSTALLED, *command))
        assert found["Service"]["Restart"] == "on-failure"
        assert found["Unit"]["StartLimitBurst"] == "5"
        assert found["Unit"]["StartLimitIntervalSec"] == "60"
        assert found["Unit"]["OnFailure"] == "telegestion-alert@%N.service"
        assert found["Unit"]["Requires"] == "telegestion-migrate.service"
        assert found["Service"]["ExecStartPost"] == f"-{INSTALLED} watchdog report %N"


def test_the_alert_unit_runs_the_watchdog_report() -> None:
    command = unit("telegestion-alert@.service")["Service"]["ExecStart"]
    assert command.startswith(f"{INSTALLED} watchdog report %i --down ")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # The installed path replaced by this checkout's command: verify checks it exists.
    here = str(Path(sys.executable).with_name("telegestion"))
    for path in UNITS.iterdir():
        (tmp_path / path.name).write_text(path.read_text().replace(INSTALLED, here))
    alert = (tmp_path / "telegestion-alert@.service").read_text()
    (tmp_path / "telegestion-alert@telegestion-ivr.service").write_text(alert)
    names = sorted(str(p) for p in tmp_path.iterdir() if not p.name.endswith("@.service"))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "telegestion" not in result.stderr, result.stderr
