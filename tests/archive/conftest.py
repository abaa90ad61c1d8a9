"""Archive fixtures: one trial PKI per session (RSA keys are slow to make), copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from archive.pki import init_pki, pki_paths
from archive.settings import ArchiveSettings
from archive.signing import Sealer
from kernel.settings import CoreSettings
from ledger.models import Beneficiary, Visit, VisitStatus, VisitVersion, Worker
from ledger.timeutil import paris_date, paris_to_utc
from tests import factories

ORGANISATION = "Paris Domicile Test"


@pytest.fixture(scope="session")
def pki_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("pki-source")
    init_pki(data_dir, ORGANISATION)
    return data_dir


@pytest.fixture
def data_dir(tmp_path: Path, pki_source: Path) -> Path:
    target = pki_paths(tmp_path).root
    shutil.copytree(pki_paths(pki_source).root, target)
    return tmp_path


@pytest.fixture
def archive_settings() -> ArchiveSettings:
    return ArchiveSettings(seal_every=1000)


@pytest.fixture
def core(data_dir: Path, database_url: str) -> CoreSettings:
    return CoreSettings(
        data_dir=data_dir, database_url=database_url, organisation_name=ORGANISATION
    )


@pytest.fixture(scope="session")
def sealer(pki_source: Path) -> Iterator[Sealer]:
    yield Sealer(ArchiveSettings(), pki_source)


def add_visit(
    session: Session,
    worker: Worker,
    ben: Beneficiary,
    local_start: datetime,
    minutes: float,
    *,
    service_code: str | None = None,
    status: VisitStatus = VisitStatus.COMPLETE,
) -> Visit:
    """A called-in visit as the IVR leaves it (times given in Paris wall-clock)."""
    start = paris_to_utc(local_start)
    end = start + timedelta(minutes=minutes)
    visit = Visit(
        worker_id=worker.id,
        beneficiary_id=ben.id,
        antenna_id=ben.antenna_id,
        started_at=start,
        ended_at=end if status is not VisitStatus.INCOMPLETE else None,
        service_date=paris_date(start),
        status=status,
        service_code=service_code,
        version=1,
    )
    session.add(visit)
    session.flush()
    session.add(
        VisitVersion(
            visit_id=visit.id,
            version=1,
            started_at=visit.started_at,
            ended_at=visit.ended_at,
            status=status,
            motive=None,
            comment="",
            author="system:ivr",
        )
    )
    session.flush()
    return visit


@pytest.fixture
def october(session: Session, org: factories.SmallOrg) -> factories.SmallOrg:
    """October 2026 for the small organisation: plans and a few visits each."""
    apa = factories.funder(session, code="APA75")
    cpam = factories.funder(session, code="CPAM75")
    factories.care_plan(session, org.ben_a1, apa, max_hours=10, service_code="AIDE")
    factories.care_plan(session, org.ben_a1, cpam, max_hours=5, service_code="AIDE")
    factories.care_plan(session, org.ben_a2, apa, max_hours=20, service_code="AIDE")
    factories.care_plan(session, org.ben_b1, apa, max_hours=20, service_code="AIDE")
    for day in (1, 6, 13, 20, 27):
        add_visit(session, org.worker_a1, org.ben_a1, datetime(2026, 10, day, 9, 0), 125.5)
        add_visit(session, org.worker_a2, org.ben_a2, datetime(2026, 10, day, 14, 0), 60)
    add_visit(session, org.worker_b1, org.ben_b1, datetime(2026, 10, 25, 2, 30), 90)  # DST day
    add_visit(
        session,
        org.worker_a2,
        org.ben_a2,
        datetime(2026, 10, 30, 8, 0),
        60,
        status=VisitStatus.INCOMPLETE,
    )
    session.commit()
    return org


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
