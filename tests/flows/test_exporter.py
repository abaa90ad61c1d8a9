"""The output files, byte for byte (golden files in tests/flows/golden/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows import exporter, formats
from ledger.models import Visit, VisitStatus
from ledger.timeutil import duration
from tests.flows.files import world
from tests.flows.scenario import load_people, october_day

GOLDEN = Path(__file__).parent / "golden"


def check_golden(path: Path) -> None:
    golden = GOLDEN / path.name
    assert path.read_bytes() == golden.read_bytes()


@pytest.fixture
def day(session: Session, session_factory: sessionmaker[Session], data_dir: Path) -> None:
    world(session)
    load_people(session_factory, data_dir)
    october_day(session)


def test_timestamps_file_is_byte_exact(session: Session, data_dir: Path, day: None) -> None:
    from datetime import date

    result = exporter.export_timestamps(session, date(2026, 10, 25), data_dir)
    assert result.rows == 5
    assert result.path.name == "horodatages_20261025.csv"
    check_golden(result.path)


def test_service_done_file_is_byte_exact(session: Session, data_dir: Path, day: None) -> None:
    result = exporter.export_service_done(session, 2026, 10, data_dir)
    # Deleted and incomplete visits are not service done.
    assert result.rows == 3
    check_golden(result.path)


def test_service_done_minutes_follow_the_ledger(
    session: Session, data_dir: Path, day: None
) -> None:
    """Each line's duration is the visit's current version, seconds dropped from both ends."""
    result = exporter.export_service_done(session, 2026, 10, data_dir)
    lines = result.path.read_bytes().decode().split("\r\n")
    assert lines[0] == formats.SERVICE_DONE.header
    by_id = {int(line.split(";")[0]): line.split(";") for line in lines[1:] if line}
    for visit in session.scalars(select(Visit)):
        if visit.status in (VisitStatus.DELETED, VisitStatus.INCOMPLETE):
            assert visit.id not in by_id
            continue
        assert visit.started_at is not None and visit.ended_at is not None
        start = visit.started_at.replace(second=0, microsecond=0)
        end = visit.ended_at.replace(second=0, microsecond=0)
        assert int(by_id[visit.id][5]) == duration(start, end).total_seconds() // 60


def test_exports_are_stable(session: Session, data_dir: Path, day: None, tmp_path: Path) -> None:
    first = exporter.export_service_done(session, 2026, 10, data_dir).path.read_bytes()
    second = exporter.export_service_done(session, 2026, 10, tmp_path).path.read_bytes()
    assert first == second
