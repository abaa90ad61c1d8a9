"""A closed month's figures kept by the ledger: the live allocation's, dropped at reopen.

The visit rows (``month_visit_figures``) and their sums per beneficiary × worker
(``month_pair_figures``) and per plan (``month_share_figures``) are compared with
the live allocation (``ledger.facts.month_billing``), summed here in Python.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import figures, service
from ledger.facts import month_billing
from ledger.models import FunderKind, MonthPairFigure, MonthShareFigure, MonthVisitFigure, Visit
from ledger.money import MonthBilling, Rounding, RoundingMode
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


def october(session: Session, org: SmallOrg) -> None:
    """Three visits a week of three pairs in two antennas; one plan, exceeded."""
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


PairRow = tuple[int, int, int, int, str, int, int, int, int, int, int, int, int]
ShareRow = tuple[int, int, int, int | None, str, str, str, int, int]


def expected_pairs(billing: MonthBilling) -> set[PairRow]:
    """The live allocation summed per beneficiary × worker: the whole visits (funder code
    ""), and per funder the visits with a share of it and those shares' minutes; the
    longest and shortest visit, of equals the first in the allocation."""
    period = billing.year * 100 + billing.month
    found: dict[tuple[int, int, int, int, str], list[tuple[int, int, int]]] = defaultdict(list)
    for position, vb in enumerate(billing.visits):
        v = vb.visit
        pair = (period, v.antenna_id, v.beneficiary_id, v.worker_id)
        found[(*pair, "")].append((vb.kept.minutes, position, v.visit_id))
        by_funder: dict[str, int] = defaultdict(int)
        for share in vb.shares:
            if share.plan is not None:
                by_funder[share.plan.funder_code] += share.minutes
        for code, minutes in by_funder.items():
            found[(*pair, code)].append((minutes, position, v.visit_id))
    rows = set()
    for key, visits in found.items():
        longest = min(visits, key=lambda x: (-x[0], x[1]))
        shortest = min(visits, key=lambda x: (x[0], x[1]))
        rows.add((*key, len(visits), sum(m for m, _p, _v in visits), *longest, *shortest))
    return rows


def expected_shares(billing: MonthBilling) -> set[ShareRow]:
    """The live allocation's shares summed per beneficiary, plan and category."""
    period = billing.year * 100 + billing.month
    found: dict[tuple[int, int, int, int | None, str, str, str], list[int]] = defaultdict(
        lambda: [0, 0]
    )
    for vb in billing.visits:
        for share in vb.shares:
            plan = share.plan
            key = (
                period,
                vb.visit.antenna_id,
                vb.visit.beneficiary_id,
                plan.plan_id if plan else None,
                plan.funder_code if plan else "",
                plan.funder_kind if plan else "",
                share.category.value,
            )
            found[key][0] += 1
            found[key][1] += share.minutes
    return {(*key, count, minutes) for key, (count, minutes) in found.items()}


def kept_pairs(session: Session) -> set[PairRow]:
    P = MonthPairFigure
    return {
        tuple(r)  # type: ignore[misc]
        for r in session.execute(
            select(
                P.period,
                P.antenna_id,
                P.beneficiary_id,
                P.worker_id,
                P.funder_code,
                P.visits,
                P.minutes,
                P.longest_minutes,
                P.longest_position,
                P.longest_visit_id,
                P.shortest_minutes,
                P.shortest_position,
                P.shortest_visit_id,
            )
        )
    }


def kept_shares(session: Session) -> set[ShareRow]:
    S = MonthShareFigure
    return {
        tuple(r)  # type: ignore[misc]
        for r in session.execute(
            select(
                S.period,
                S.antenna_id,
                S.beneficiary_id,
                S.plan_id,
                S.funder_code,
                S.funder_kind,
                S.category,
                S.shares,
                S.minutes,
            )
        )
    }


def test_the_close_keeps_the_live_allocation_and_the_reopen_drops_it(
    session: Session, org: SmallOrg
) -> None:
    october(session, org)
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
    for table in (MonthVisitFigure, MonthPairFigure, MonthShareFigure):
        assert session.scalar(select(func.count()).select_from(table)) == 0
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
    october(session, org)
    factories.close_month(session, OCTOBER)
    other = {"APA75": Rounding(15, RoundingMode.NEAREST, 5)}
    assert figures.kept_months(session, [OCTOBER], other) == set()
    assert figures.kept_months(session, [OCTOBER, Month(2026, 9)], {}) == {OCTOBER}


def test_the_close_keeps_the_live_allocation_summed(session: Session, org: SmallOrg) -> None:
    october(session, org)
    _facts, live = month_billing(session, OCTOBER, {})
    factories.close_month(session, OCTOBER)
    pairs = kept_pairs(session)
    assert pairs == expected_pairs(live)
    assert kept_shares(session) == expected_shares(live)
    # By hand: the pair of a1 (60, 67 and 75 minutes, plan of 150 minutes exceeded).
    a1 = sorted(r[4:8] for r in pairs if r[2] == org.ben_a1.id and r[3] == org.worker_a1.id)
    assert a1 == [("", 3, 202, 75), ("APA75", 3, 202, 75)]
    # Visits of equal minutes (b1's three of 0): the first in the allocation, both ways.
    (b1,) = [r for r in pairs if r[2] == org.ben_b1.id]
    assert b1[5:7] == (3, 0) and b1[8] == b1[11] == min(
        p for p, vb in enumerate(live.visits) if vb.visit.beneficiary_id == org.ben_b1.id
    )
    within = {r[6]: r[7:] for r in kept_shares(session) if r[2] == org.ben_a1.id}
    assert within == {"within": (3, 150), "beyond": (1, 52)}
