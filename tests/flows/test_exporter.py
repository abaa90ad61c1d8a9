"""The output files, byte for byte (golden files in tests/flows/golden/)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows import exporter, formats
from ledger import service
from ledger.models import Beneficiary, Visit, VisitStatus, Worker
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.timeutil import duration, utc_now
from tests.flows.files import world
from tests.flows.scenario import at, call, load_people, october_day

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
    result = exporter.export_timestamps(session, date(2026, 10, 25), data_dir)
    assert result.rows == 5
    assert result.path.name == "horodatages_20261025.csv"
    check_golden(result.path)


def test_timestamps_file_carries_late_changes_to_earlier_days(
    session: Session, data_dir: Path, day: None
) -> None:
    """The file of the 26th after the 25th's: the day, then what changed since for earlier days.

    Golden file written by hand from docs/flows/horodatages.md.
    """
    previous_file = utc_now()  # the 25th's file was written here (its corrections are older)
    workers = {w.external_id: w for w in session.scalars(select(Worker))}
    bens = {b.external_id: b for b in session.scalars(select(Beneficiary))}
    w1, w2, b1, b2 = workers["INT001"], workers["INT002"], bens["BEN001"], bens["BEN002"]
    call(session, "d1", at(8, 0, 0, day=26), w1, b1, Direction.ARRIVAL)
    call(session, "d2", at(9, 30, 15, day=26), w1, b1, Direction.DEPARTURE)
    incomplete = session.scalars(select(Visit).where(Visit.status == VisitStatus.INCOMPLETE)).one()
    service.correct_visit(
        session,
        incomplete,
        started_at=at(16, 0),
        ended_at=at(17, 0),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="manager.nord",
    )
    manual = session.scalars(select(Visit).where(Visit.status == VisitStatus.MANUAL)).one()
    service.correct_visit(
        session,
        manual,
        started_at=None,
        ended_at=None,
        motive=Motive.VISIT_CANCELLED,
        comment="",
        author="manager.nord",
        delete=True,
    )
    service.enter_manual_visit(
        session,
        worker=w2,
        beneficiary=b2,
        started_at=datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
        ended_at=datetime(2026, 10, 24, 13, 30, tzinfo=UTC),
        motive=Motive.NO_PHONE_AT_HOME,
        comment="",
        author="manager.nord",
        service_code="PCH-AIDE",
    )
    session.commit()
    result = exporter.export_timestamps(
        session, date(2026, 10, 26), data_dir, changes_since=previous_file
    )
    assert (result.rows, result.late) == (4, 3)
    check_golden(result.path)
    # The next file, with nothing changed since: only its own day.
    later = exporter.export_timestamps(
        session, date(2026, 10, 27), data_dir, changes_since=result.until
    )
    assert (later.rows, later.late) == (0, 0)


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
