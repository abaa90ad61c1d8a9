"""``telegestion run`` loads invented people only when asked (--demo)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from config.cli import build_parser
from config.supervisor import SERVICES, preparation
from ledger.db import make_engine
from ledger.models import Antenna, Beneficiary
from tests.config.fresh import fresh_database, telegestion


def test_run_prepares_no_demo_unless_asked() -> None:
    plain = build_parser().parse_args(["run"])
    assert plain.demo is False
    steps = preparation(plain.demo)
    assert not any(step[0] == "demo" or step[:2] == ("users", "demo") for step in steps)
    assert steps[0] == ("migrate",)


def test_run_demo_loads_the_demo_after_the_migrations() -> None:
    steps = preparation(build_parser().parse_args(["run", "--demo"]).demo)
    assert steps[:3] == (("migrate",), ("demo", "--if-empty"), ("users", "demo", "--if-empty"))


def test_a_real_first_start_fills_no_invented_people(tmp_path: Path) -> None:
    """Through the real command: the preparation runs, then no part is left to supervise."""
    with fresh_database(tmp_path, "run") as url:
        # Every supervised part is left out, read from the supervisor's own list, so that
        # a part added later cannot turn this into a run that never ends.
        without = [arg for name, _ in SERVICES for arg in ("--without", name)]
        result = telegestion("run", *without, data_dir=tmp_path, url=url)
        assert result.returncode == 1 and "no service to run" in result.stderr
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Beneficiary)) == 0
            assert conn.scalar(select(func.count()).select_from(Antenna)) == 0
        engine.dispose()
