"""A closed month's figures kept by the ledger: the live allocation's, dropped at reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import figures, service
from ledger.facts import month_billing
from ledger.models import FunderKind, MonthVisitFigure, Visit
from ledger.money import Rounding, RoundingMode
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.timeutil import Month
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_service import record

OCTOBER = Month(2026, 10)


def _visit(session: Session, worker: int, ben: int, tag: str, at: datetime, minutes: int) -> None:
    for direction, moment in (
        (Direction.ARRIVAL, at),
        (Direction.DEPARTURE, at + timedelta(minutes=minutes)),
    ):
        service.record_call(
            session,
            record(
                f"{tag}-{direction.value}",
                moment,
                worker_id=worker,
                beneficiary_id=ben,
                direction=direction,
            ),
        )


def _october(session: Session, org: SmallOrg) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    # A small plan: the third visit goes beyond it.
    factories.care_plan(session, org.ben_a1, apa, max_hours=2.5)
    for day, minutes in ((6, 60), (13, 67), (20, 75)):
        at = datetime(2026, 10, day, 7, 0, tzinfo=UTC)
        _visit(session, org.worker_a1.id, org.ben_a1.id, f"a1-{day}", at, minutes)
        _visit(session, org.worker_a2.id, org.ben_a2.id, f"a2-{day}", at, minutes + 1)
        _visit(session, org.worker_b1.id, org.ben_b1.id, f"b1-{day}", at, 0)
    session.commit()


def _rows(session: Session) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in session.execute(
            select(
                MonthVisitFigure.period,
                MonthVisitFigure.position,
                MonthVisitFigure.share,
                MonthVisitFigure.visit_id,
                MonthVisitFigure.antenna_id,
                MonthVisitFigure.beneficiary_id,
                MonthVisitFigure.worker_id,
                MonthVisitFigure.service_date,
                MonthVisitFigure.kept_minutes,
                MonthVisitFigure.plan_id,
                MonthVisitFigure.funder_code,
                MonthVisitFigure.funder_kind,
                MonthVisitFigure.category,
                MonthVisitFigure.minutes,
            ).order_by(MonthVisitFigure.period, MonthVisitFigure.position, MonthVisitFigure.share)
        )
    ]


def test_the_close_keeps_the_live_allocation_and_the_reopen_drops_it(
    session: Session, org: SmallOrg
) -> None:
    _october(session, org)
    assert figures.kept_months(session, [OCTOBER], None) == set()
    _facts, live = month_billing(session, OCTOBER, {})
    factories.close_month(session, OCTOBER)
    assert figures.kept_months(session, [OCTOBER], None) == {OCTOBER}
    expected = [
        tuple(row.values())
        for row in sorted(
            (
                {
                    "period": r["period"],
                    "position": r["position"],
                    "share": r["share"],
                    "visit_id": r["visit_id"],
                    "antenna_id": r["antenna_id"],
                    "beneficiary_id": r["beneficiary_id"],
                    "worker_id": r["worker_id"],
                    "service_date": r["service_date"],
                    "kept_minutes": r["kept_minutes"],
                    "plan_id": r["plan_id"],
                    "funder_code": r["funder_code"],
                    "funder_kind": r["funder_kind"],
                    "category": r["category"],
                    "minutes": r["minutes"],
                }
                for r in figures.figure_rows(live)
            ),
            key=lambda r: (r["position"], r["share"]),
        )
    ]
    kept = _rows(session)
    assert kept == expected
    # Every counted visit is there once (share 0), with its kept minutes and its shares.
    assert len([r for r in kept if r[2] == 0]) == len(live.visits) == 9
    assert {r[12] for r in kept} == {"within", "beyond", "outside", None}
    assert sum(r[13] for r in kept) == sum(vb.kept.minutes for vb in live.visits)
    assert {r[4] for r in kept} == {org.antenna_a.id, org.antenna_b.id}

    factories.reopen_month(session, OCTOBER)
    assert figures.kept_months(session, [OCTOBER], None) == set()
    assert session.scalar(select(func.count()).select_from(MonthVisitFigure)) == 0
    # A correction while reopened, then the next close keeps the new figures.
    visit = session.scalars(select(Visit).order_by(Visit.id)).first()
    assert visit is not None and visit.started_at is not None
    service.correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=visit.started_at + timedelta(minutes=10),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    session.commit()
    _facts, live = month_billing(session, OCTOBER, {})
    factories.close_month(session, OCTOBER)
    assert sum(r[13] for r in _rows(session)) == sum(vb.kept.minutes for vb in live.visits)


def test_figures_kept_with_other_rounding_rules_are_not_given(
    session: Session, org: SmallOrg
) -> None:
    _october(session, org)
    factories.close_month(session, OCTOBER)
    other = {"APA75": Rounding(15, RoundingMode.NEAREST, 5)}
    assert figures.kept_months(session, [OCTOBER], other) == set()
    assert figures.kept_months(session, [OCTOBER, Month(2026, 9)], {}) == {OCTOBER}
