"""The month read for money (``ledger.facts``) is the month as the ledger holds it.

``_load_visits`` reads Core rows, keeps times that are already UTC as they are
and builds each ``VisitFact`` positionally, for speed (issue 14). Here a
randomized month (calls with seconds and microseconds, corrections with and
without a motive, visits entered by hand, deleted or left incomplete, plans
soon full) is read again the plain way (the ORM's objects, ``as_utc`` and
``esppadom_code`` by keyword) and allocated by the rules written plainly
(``reference_allocation``): every fact and every minute must be the same, on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger import service
from ledger.facts import forget_cached_months, load_month_facts, month_billing
from ledger.models import CallEvent, CarePlan, FunderKind, Visit, VisitStatus, VisitVersion
from ledger.money import MonthBilling, Rounding, RoundingMode, VisitFact
from ledger.motives import Motive, esppadom_code
from ledger.pairing import Direction
from ledger.timeutil import Month, as_utc
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_money_fast import reference_allocation
from tests.ledger.test_service import record

NOVEMBER = Month(2026, 11)


def _plain_facts(session: Session) -> list[VisitFact]:
    """November's visits read one ORM object at a time, as ``_load_visits`` did before."""
    corrected = set(
        session.scalars(select(VisitVersion.visit_id).where(VisitVersion.motive.is_not(None)))
    )
    facts = []
    for visit in session.scalars(
        select(Visit)
        .where(
            Visit.service_date >= NOVEMBER.first_day,
            Visit.service_date <= NOVEMBER.last_day,
            Visit.status != VisitStatus.DELETED,
        )
        .order_by(Visit.id)
    ):
        arrival = session.get(CallEvent, visit.arrival_event_id) if visit.arrival_event_id else None
        departure = (
            session.get(CallEvent, visit.departure_event_id) if visit.departure_event_id else None
        )
        start = as_utc(visit.started_at) if visit.started_at else None
        end = as_utc(visit.ended_at) if visit.ended_at else None
        clock_in = as_utc(arrival.answered_at) if arrival else None
        clock_out = as_utc(departure.answered_at) if departure else None
        in_changed = clock_in is not None and start != clock_in
        out_changed = clock_out is not None and end != clock_out
        code = esppadom_code(
            had_arrival_call=clock_in is not None,
            had_departure_call=clock_out is not None,
            times_changed=in_changed or out_changed,
            deleted=False,
            corrected=visit.id in corrected
            or visit.status in (VisitStatus.CORRECTED, VisitStatus.MANUAL),
            arrival_changed=in_changed,
            departure_changed=out_changed,
        )
        facts.append(
            VisitFact(
                visit_id=visit.id,
                beneficiary_id=visit.beneficiary_id,
                worker_id=visit.worker_id,
                service_date=visit.service_date,
                started_at=start,
                ended_at=end,
                clocked_start=clock_in,
                clocked_end=clock_out,
                service_code=visit.service_code,
                adjustment=code.value if code is not None else "",
                status=visit.status.value,
                antenna_id=visit.antenna_id,
            )
        )
    return facts


def _random_month(session: Session, org: SmallOrg, seed: int, *, both: bool = False) -> None:
    """About forty visits of November with odd seconds, on plans that fill up (in antenna
    a; ``both``: a's and b's)."""
    rng = random.Random(seed)
    apa = factories.funder(session, FunderKind.APA, f"APA{seed}")
    caisse = factories.funder(session, FunderKind.PENSION_FUND, f"CAR{seed}")
    for ben in (org.ben_a1, org.ben_a2, *((org.ben_b1,) if both else ())):
        factories.care_plan(session, ben, apa, max_hours=rng.choice((2.5, 4.75, 6.0)))
        factories.care_plan(
            session, ben, caisse, max_hours=rng.choice((1.25, 3.0)), starts_on=date(2026, 11, 10)
        )
    session.commit()
    people = [
        (org.worker_a1, org.ben_a1),
        (org.worker_a2, org.ben_a2),
        (org.worker_a1, org.ben_a2),
        *(((org.worker_b1, org.ben_b1),) if both else ()),
    ]
    moment = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    for n in range(40):
        worker, ben = people[n % len(people)]
        moment += timedelta(
            hours=rng.randint(3, 14),
            seconds=rng.randint(0, 59),
            microseconds=rng.choice((0, 0, rng.randint(1, 999_999))),
        )
        length = timedelta(minutes=rng.randint(5, 150), seconds=rng.randint(0, 59))
        what = rng.choice(("calls", "calls", "corrected", "corrected", "manual", "open", "deleted"))
        if what == "manual":
            service.enter_manual_visit(
                session,
                worker=worker,
                beneficiary=ben,
                started_at=moment,
                ended_at=moment + length,
                motive=Motive.TIME_ERROR,
                comment="",
                author="resp-a",
            )
            session.commit()
            continue
        tag = f"s{seed}-{n}"
        service.record_call(
            session,
            record(
                f"{tag}-in", moment, worker_id=worker.id, beneficiary_id=ben.id,
                direction=Direction.ARRIVAL,
            ),
        )  # fmt: skip
        if what == "open":
            session.commit()
            continue
        done = service.record_call(
            session,
            record(
                f"{tag}-out", moment + length, worker_id=worker.id, beneficiary_id=ben.id,
                direction=Direction.DEPARTURE,
            ),
        )  # fmt: skip
        assert done.visit_id is not None
        visit = session.get_one(Visit, done.visit_id)
        if what in ("corrected", "deleted"):
            service.correct_visit(
                session,
                visit,
                started_at=moment + timedelta(seconds=rng.randint(-90, 90)),
                ended_at=moment + length + timedelta(minutes=rng.randint(0, 20), seconds=17),
                motive=Motive.TIME_ERROR,
                comment="",
                author="resp-a",
                delete=what == "deleted",
            )
        session.commit()


def _same(fast: MonthBilling, plain: MonthBilling) -> None:
    assert fast.visits == plain.visits
    assert fast.unbillable == plain.unbillable
    assert [(ln.key, ln.visits, ln.kept_minutes) for ln in fast.lines] == [
        (ln.key, ln.visits, ln.kept_minutes) for ln in plain.lines
    ]


def _ended_later(session: Session, visit: Visit, *, minutes: int) -> None:
    """``visit`` corrected to end ``minutes`` later (a working day's change), committed."""
    assert visit.ended_at is not None
    service.correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=visit.ended_at + timedelta(minutes=minutes),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    session.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_month_read_for_money_is_the_ledger_s(
    session: Session, org: SmallOrg, seed: int
) -> None:
    _random_month(session, org, seed)
    forget_cached_months()
    plain = _plain_facts(session)
    assert len(plain) > 20
    assert {v.adjustment for v in plain} - {""}, "some visits must carry a correction code"
    facts = load_month_facts(session, NOVEMBER)
    assert facts.visits == plain
    for rules in (None, {f"APA{seed}": Rounding(15, RoundingMode.NEAREST, 0)}):
        billing = month_billing(session, NOVEMBER, rules)[1]
        _same(billing, reference_allocation(2026, 11, plain, facts.plans, rules or {}))
        # One antenna's month (the statistics' scope) is the same visits' allocation.
        scoped = month_billing(session, NOVEMBER, rules, [org.antenna_a.id])[1]
        _same(scoped, billing)


def _fresh(
    session: Session, rules: dict[str, Rounding] | None, antennas: list[int] | None
) -> tuple[list[VisitFact], MonthBilling]:
    """The month read and allocated whole, without the cache, then the cache left as it was."""
    from ledger import facts as module

    with module._LOCK:
        saved = {engine: entries.copy() for engine, entries in module._CACHE.items()}
        module._CACHE.clear()
    try:
        read, billing = month_billing(session, NOVEMBER, rules, antennas)
    finally:
        with module._LOCK:
            module._CACHE.clear()
            module._CACHE.update(saved)
    return read.visits, billing


@pytest.mark.parametrize("seed", [4, 5])
def test_a_changed_month_is_allocated_again_for_its_changed_beneficiaries_only(
    session: Session, org: SmallOrg, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger import facts as module

    _random_month(session, org, seed)
    forget_cached_months()
    rules = {f"APA{seed}": Rounding(15, RoundingMode.UP, 0)}
    scopes: list[list[int] | None] = [None, [org.antenna_a.id]]
    partial: list[set[int]] = []
    load = module._load_visits

    def spy(session: Session, scope: object, only: set[int] | None = None) -> list[VisitFact]:
        if only is not None:
            partial.append(set(only))
        return load(session, scope, only)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_load_visits", spy)
    # The month has three beneficiaries: one changed is a third of them, read again alone.
    monkeypatch.setattr(module, "_INCREMENTAL_SHARE", 1.0)

    def check(expected: set[int]) -> None:
        partial.clear()
        for antennas in scopes:
            for rule in (None, rules):
                read, billing = month_billing(session, NOVEMBER, rule, antennas)
                visits, whole = _fresh(session, rule, antennas)
                assert read.visits == visits
                _same(billing, whole)
        assert partial and all(found == expected for found in partial)

    for antennas in scopes:
        for rule in (None, rules):
            month_billing(session, NOVEMBER, rule, antennas)
    visits = list(
        session.scalars(
            select(Visit)
            .where(Visit.service_date >= NOVEMBER.first_day, Visit.status != VisitStatus.DELETED)
            .order_by(Visit.id)
        )
    )
    # One visit corrected by a minute (a working day's change).
    first = next(v for v in visits if v.ended_at is not None and v.beneficiary_id == org.ben_a1.id)
    _ended_later(session, first, minutes=1)
    check({org.ben_a1.id})
    # A visit moved to another beneficiary: both are read again.
    moved = next(v for v in visits if v.ended_at is not None and v.beneficiary_id == org.ben_a2.id)
    service.correct_visit(
        session,
        moved,
        started_at=moved.started_at,
        ended_at=moved.ended_at,
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
        beneficiary=org.ben_a1,
    )
    session.commit()
    check({org.ben_a1.id, org.ben_a2.id})
    # A plan's maximum lowered (an import changes plans in place).
    plan = session.scalars(
        select(CarePlan).where(CarePlan.beneficiary_id == org.ben_a2.id).order_by(CarePlan.id)
    ).first()
    assert plan is not None
    session.execute(update(CarePlan).where(CarePlan.id == plan.id).values(max_hours=0.5))
    session.commit()
    check({org.ben_a2.id})
    # A visit deleted.
    gone = next(v for v in visits if v.ended_at is not None and v.beneficiary_id == org.ben_a2.id)
    service.correct_visit(
        session,
        gone,
        started_at=gone.started_at,
        ended_at=gone.ended_at,
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
        delete=True,
    )
    session.commit()
    check({org.ben_a2.id})


@pytest.mark.parametrize("seed", [6, 7])
def test_a_month_of_several_antennas_is_its_antennas_months_side_by_side(
    session: Session, org: SmallOrg, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All antennas' month (a referent's, the close's) is put together from each antenna's
    month, read and allocated apart: the same facts and minutes as the whole month by
    the plain rules; a beneficiary with visits in two antennas has it read whole."""
    from ledger import facts as module

    _random_month(session, org, seed, both=True)
    forget_cached_months()
    a, b = org.antenna_a.id, org.antenna_b.id
    scopes: list[tuple[int, ...] | None] = []
    load = module._load_visits

    def spy(session: Session, scope: Any, only: set[int] | None = None) -> list[VisitFact]:
        scopes.append(scope.antenna_ids)
        return load(session, scope, only)

    monkeypatch.setattr(module, "_load_visits", spy)
    rules = {f"APA{seed}": Rounding(15, RoundingMode.NEAREST, 0)}

    def check() -> None:
        plain = _plain_facts(session)
        plans = load_month_facts(session, NOVEMBER).plans  # read whole, never composed
        scopes.clear()
        for rule in (None, rules):
            for antennas in (None, [a, b]):
                read, billing = month_billing(session, NOVEMBER, rule, antennas)
                assert read.visits == plain
                assert read.plans == plans
                _same(billing, reference_allocation(2026, 11, plain, plans, rule or {}))

    check()
    assert {v.beneficiary_id for v in _plain_facts(session)} == {
        org.ben_a1.id, org.ben_a2.id, org.ben_b1.id
    }  # fmt: skip
    assert set(scopes) == {(a,), (b,)}, "each antenna's month read apart, never the whole"
    # One of b1's visits recorded in antenna a (written outside the ledger): b1's visits
    # are then in two antennas' months, and the months of both are read whole.
    stray = session.scalars(
        select(Visit.id)
        .where(Visit.beneficiary_id == org.ben_b1.id, Visit.status != VisitStatus.DELETED)
        .order_by(Visit.id)
    ).first()
    session.execute(update(Visit).where(Visit.id == stray).values(antenna_id=a))
    session.commit()
    check()
    assert (a, b) in scopes, "the two antennas' month read whole"


def test_a_month_put_together_goes_when_one_of_its_antennas_months_leaves_the_cache(
    session: Session, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else it would keep that month's visits alive beyond the cache's bound."""
    from ledger import facts as module

    _random_month(session, org, 8, both=True)
    forget_cached_months()
    month_billing(session, NOVEMBER, None)
    composed = module._COMPOSED[session.get_bind().engine]  # type: ignore[union-attr]
    assert len(composed) == 1
    # Two more months read: antenna a's November, the least recently used, leaves.
    monkeypatch.setattr(module, "_CACHE_SIZE", 2)
    month_billing(session, Month(2026, 10), None, [org.antenna_b.id])
    assert len(composed) == 0
    # Asked again, it is put together again, and equal.
    again = month_billing(session, NOVEMBER, None)[1]
    assert len(composed) == 1
    plain = _plain_facts(session)
    _same(
        again, reference_allocation(2026, 11, plain, load_month_facts(session, NOVEMBER).plans, {})
    )


@pytest.mark.parametrize("both", [False, True])
def test_the_antennas_markers_read_together_are_each_antenna_s_own(
    session: Session, org: SmallOrg, both: bool
) -> None:
    """A month of several antennas reads its antennas' markers in one grouped pass per
    table (``_markers``); each must be the one its antenna's month is cached under
    (``_marker``, read alone), an antenna without visits or plans that month (b, when
    not ``both``) included, and it must change when a visit does."""
    from ledger import facts as module

    _random_month(session, org, 9, both=both)
    scopes = [
        module._Scope(NOVEMBER, (antenna.id,), None, None)
        for antenna in (org.antenna_a, org.antenna_b)
    ]
    together = module._markers(session, scopes)
    assert together == {scope: module._marker(session, scope) for scope in scopes}
    visit = session.scalars(
        select(Visit).where(Visit.status == VisitStatus.COMPLETE).order_by(Visit.id)
    ).first()
    assert visit is not None
    _ended_later(session, visit, minutes=5)
    again = module._markers(session, scopes)
    assert again == {scope: module._marker(session, scope) for scope in scopes}
    changed = next(s for s in scopes if s.antenna_ids == (visit.antenna_id,))
    assert again[changed] != together[changed]
