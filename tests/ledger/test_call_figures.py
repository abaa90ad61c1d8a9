"""A closed month's incomplete calls counted by the ledger: at the close, dropped at reopen,
and counted the same by the migration that filled the months closed before it."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ledger import call_figures, service
from ledger.models import MonthCallFigure, MonthVisitCount, Visit
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.timeutil import Month
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_service import record

OCTOBER, NOVEMBER = Month(2026, 10), Month(2026, 11)
MIGRATION = (
    Path(__file__).parents[2] / "ledger" / "migrations" / "2026_12_07_0012_month_call_figures.py"
)


def _call(session: Session, tag: str, worker: int, ben: int, at: datetime, way: Direction) -> None:
    service.record_call(
        session, record(tag, at, worker_id=worker, beneficiary_id=ben, direction=way)
    )


def _october(session: Session, org: SmallOrg) -> None:
    """Four kinds of incomplete visits and a complete one, in two antennas."""
    a1, a2, b1 = org.worker_a1.id, org.worker_a2.id, org.worker_b1.id
    day6 = datetime(2026, 10, 6, 7, 0, tzinfo=UTC)
    # Worker a1: two visits with no departure, the same day (one group of 2).
    _call(session, "a1-1", a1, org.ben_a1.id, day6, Direction.ARRIVAL)
    _call(session, "a1-2", a1, org.ben_a2.id, day6 + timedelta(hours=3), Direction.ARRIVAL)
    # Worker a2: no departure, then corrected with a motive.
    _call(session, "a2", a2, org.ben_a2.id, day6 + timedelta(hours=6), Direction.ARRIVAL)
    session.commit()
    visit = session.scalars(select(Visit).where(Visit.worker_id == a2)).one()
    service.correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=day6 + timedelta(hours=7),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="resp-a",
    )
    # Worker b1: a visit entered by hand (no call at all), and one with no arrival.
    service.enter_manual_visit(
        session,
        worker=org.worker_b1,
        beneficiary=org.ben_b1,
        started_at=datetime(2026, 10, 13, 8, 0, tzinfo=UTC),
        ended_at=datetime(2026, 10, 13, 9, 0, tzinfo=UTC),
        motive=Motive.PHONE_OUT_OF_ORDER,
        comment="",
        author="resp-b",
    )
    day20 = datetime(2026, 10, 20, 7, 0, tzinfo=UTC)
    _call(session, "b1-dep", b1, org.ben_b1.id, day20, Direction.DEPARTURE)
    # A complete visit: not counted.
    _call(session, "a1-arr", a1, org.ben_a1.id, day20, Direction.ARRIVAL)
    _call(session, "a1-dep", a1, org.ben_a1.id, day20 + timedelta(hours=1), Direction.DEPARTURE)
    # November is not closed: never counted.
    _call(
        session,
        "nov",
        a1,
        org.ben_a1.id,
        datetime(2026, 11, 3, 7, 0, tzinfo=UTC),
        Direction.ARRIVAL,
    )
    session.commit()


def _rows(session: Session) -> list[tuple[object, ...]]:
    k = MonthCallFigure
    return [
        tuple(r)
        for r in session.execute(
            select(
                k.period, k.service_date, k.antenna_id, k.worker_id, k.kind, k.corrected, k.visits
            ).order_by(k.period, k.service_date, k.antenna_id, k.worker_id, k.kind, k.corrected)
        )
    ]


def _migration(path: Path = MIGRATION) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_close_counts_the_incomplete_calls_and_the_reopen_drops_them(
    session: Session, org: SmallOrg
) -> None:
    _october(session, org)
    assert call_figures.kept_months(session, [OCTOBER, NOVEMBER]) == set()
    assert _rows(session) == []
    factories.close_month(session, OCTOBER)
    assert call_figures.kept_months(session, [OCTOBER, NOVEMBER]) == {OCTOBER}
    a, b = org.antenna_a.id, org.antenna_b.id
    assert _rows(session) == [
        (202610, date(2026, 10, 6), a, org.worker_a1.id, "depart", False, 2),
        (202610, date(2026, 10, 6), a, org.worker_a2.id, "depart", True, 1),
        (202610, date(2026, 10, 13), b, org.worker_b1.id, "aucun", True, 1),
        (202610, date(2026, 10, 20), b, org.worker_b1.id, "arrivee", False, 1),
    ]
    factories.reopen_month(session, OCTOBER)
    assert call_figures.kept_months(session, [OCTOBER]) == set()
    assert session.scalar(select(func.count()).select_from(MonthCallFigure)) == 0


def test_the_migration_counts_the_months_closed_before_it_as_the_close_does(
    session: Session, org: SmallOrg
) -> None:
    _october(session, org)
    factories.close_month(session, OCTOBER)
    at_close = _rows(session)
    assert len(at_close) == 4
    session.execute(delete(MonthCallFigure))
    _migration().backfill(session.connection())
    assert _rows(session) == at_close


VISIT_COUNTS_MIGRATION = MIGRATION.with_name("2026_12_07_0013_month_visit_counts.py")


def _visit_counts(session: Session) -> list[tuple[object, ...]]:
    k = MonthVisitCount
    query = select(k.period, k.antenna_id, k.visits, k.missing_call).order_by(
        k.period, k.antenna_id
    )
    return [tuple(r) for r in session.execute(query)]


def test_the_close_keeps_each_antennas_visits_with_and_without_a_call_missing(
    session: Session, org: SmallOrg
) -> None:
    """The overview's rate of incomplete calls: deleted visits are in neither count."""
    _october(session, org)
    # One more visit of antenna B with no departure, then deleted by its manager.
    _call(
        session,
        "b1-gone",
        org.worker_b1.id,
        org.ben_b1.id,
        datetime(2026, 10, 27, 7, 0, tzinfo=UTC),
        Direction.ARRIVAL,
    )
    session.commit()
    gone = session.scalars(select(Visit).where(Visit.service_date == date(2026, 10, 27))).one()
    service.correct_visit(
        session,
        gone,
        started_at=gone.started_at,
        ended_at=None,
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="resp-b",
        delete=True,
    )
    session.commit()
    factories.close_month(session, OCTOBER)
    a, b = org.antenna_a.id, org.antenna_b.id
    # A: two with no departure, one corrected (its departure still not called), one
    # complete. B: one entered by hand, one with no arrival (the deleted one left out).
    kept = [(202610, a, 4, 3), (202610, b, 2, 2)]
    assert _visit_counts(session) == kept

    session.execute(delete(MonthVisitCount))
    _migration(VISIT_COUNTS_MIGRATION).backfill(session.connection())
    assert _visit_counts(session) == kept

    factories.reopen_month(session, OCTOBER)
    assert _visit_counts(session) == []
