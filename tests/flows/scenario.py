"""A small, fixed October day in the ledger, for golden files and end-to-end tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.importer import import_file
from ledger import service
from ledger.models import Beneficiary, PlannedVisit, Visit, Worker
from ledger.motives import Motive
from ledger.pairing import Direction
from tests.flows.files import (
    ben_row,
    bens_file,
    planned_file,
    planned_row,
    worker_row,
    workers_file,
)
from tests.ledger.test_service import record


def at(hour: int, minute: int, second: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 10, day, hour, minute, second, tzinfo=UTC)


def load_people(session_factory: sessionmaker[Session], data_dir: Path) -> None:
    """Workers, beneficiaries and one planned visit, through the import itself."""
    folder = data_dir / "setup"
    import_file(
        session_factory,
        workers_file(
            folder,
            [worker_row("INT001"), worker_row("INT002", nom="Petit", prenom="Ali")],
            day="20261001",
        ),
        data_dir,
    )
    import_file(
        session_factory,
        bens_file(
            folder,
            [
                ben_row("BEN001"),
                ben_row(
                    "BEN002",
                    nom="Lefèvre",
                    telephone_1="01 45 67 89 02",
                    code_prestation="PCH-AIDE",
                ),
            ],
            day="20261001",
        ),
        data_dir,
    )
    import_file(
        session_factory,
        planned_file(
            folder,
            [planned_row("PV1", debut="2026-10-25 09:00", fin="2026-10-25 10:00")],
            day="20261001",
        ),
        data_dir,
    )


def call(
    session: Session,
    channel: str,
    moment: datetime,
    worker: Worker,
    ben: Beneficiary,
    direction: Direction,
) -> int | None:
    return service.record_call(
        session,
        record(channel, moment, worker_id=worker.id, beneficiary_id=ben.id, direction=direction),
    ).visit_id


def october_day(session: Session) -> None:
    """Five visits on Sunday 25 October 2026 (the night the clocks go back)."""
    workers = {w.external_id: w for w in session.scalars(select(Worker))}
    bens = {b.external_id: b for b in session.scalars(select(Beneficiary))}
    w1, w2, b1, b2 = workers["INT001"], workers["INT002"], bens["BEN001"], bens["BEN002"]
    # Complete, a little longer than planned (planned 09:00-10:00 Paris = 08:00-09:00 UTC).
    call(session, "c1", at(7, 58, 30), w1, b1, Direction.ARRIVAL)
    call(session, "c2", at(9, 1, 10), w1, b1, Direction.DEPARTURE)
    # Corrected by a manager.
    call(session, "c3", at(8, 0, 5), w2, b2, Direction.ARRIVAL)
    second = call(session, "c4", at(9, 0, 59), w2, b2, Direction.DEPARTURE)
    assert second is not None
    service.correct_visit(
        session,
        session.get_one(Visit, second),
        started_at=at(8, 5),
        ended_at=at(9, 30),
        motive=Motive.TIME_ERROR,
        comment="",
        author="manager.nord",
    )
    # Entered by hand.
    service.enter_manual_visit(
        session,
        worker=w1,
        beneficiary=b2,
        started_at=at(13, 0),
        ended_at=at(14, 15),
        motive=Motive.PHONE_OUT_OF_ORDER,
        comment="",
        author="manager.nord",
        service_code="PCH-AIDE",
    )
    # Arrival only: incomplete.
    call(session, "c5", at(16, 0), w2, b1, Direction.ARRIVAL)
    # Recorded twice then deleted by a manager.
    call(session, "c6", at(18, 0), w1, b1, Direction.ARRIVAL)
    dup = call(session, "c7", at(18, 40), w1, b1, Direction.DEPARTURE)
    assert dup is not None
    service.correct_visit(
        session,
        session.get_one(Visit, dup),
        started_at=None,
        ended_at=None,
        motive=Motive.DUPLICATE_CALL,
        comment="",
        author="manager.nord",
        delete=True,
    )
    session.commit()
    assert session.scalar(select(PlannedVisit.external_id)) == "PV1"
