"""The month's figures are read once per state of the month, and read again on any change.

``ledger.facts.month_billing`` keeps the last readings of a month keyed by a
marker of its visits (one SQL pass) and by its plans and rules: every change
the product can make to the figures must give new figures, never cached ones.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from ledger import closures, service
from ledger.facts import forget_cached_months, load_month_facts, month_billing, month_plans
from ledger.models import CarePlan, FunderKind, Visit
from ledger.money import Rounding, RoundingMode, allocate_month
from ledger.motives import Motive
from ledger.timeutil import Month
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_closures import OCTOBER, VISIT_AT, _visit


def _minutes(session: Session, rules: dict[str, Rounding] | None = None) -> dict[str, int]:
    return month_billing(session, OCTOBER, rules)[1].minutes_by_funder()


def _fresh(session: Session, rules: dict[str, Rounding] | None = None) -> dict[str, int]:
    """The same figures read and allocated without any cache."""
    forget_cached_months()
    facts = load_month_facts(session, OCTOBER)
    forget_cached_months()
    return allocate_month(2026, 10, facts.visits, facts.plans, rules).minutes_by_funder()


def test_an_unchanged_month_is_allocated_once(session: Session, org: SmallOrg) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    factories.care_plan(session, org.ben_a1, apa)
    _visit(session, org, "v1")
    session.commit()
    first = month_billing(session, OCTOBER)[1]
    assert month_billing(session, OCTOBER)[1] is first
    assert closures.figures(session, OCTOBER, None) is closures.figures(session, OCTOBER, None)
    assert first.minutes_by_funder() == {"APA75": 60}


def test_every_change_gives_new_figures(session: Session, org: SmallOrg) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    plan = factories.care_plan(session, org.ben_a1, apa, max_hours=1.5)
    visit = _visit(session, org, "v1")
    session.commit()
    assert _minutes(session) == {"APA75": 60}

    # A correction (a new version), seen inside its transaction and after its commit.
    service.correct_visit(
        session,
        visit,
        started_at=VISIT_AT,
        ended_at=VISIT_AT + timedelta(minutes=37, seconds=30),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    assert _minutes(session) == {"APA75": 37}
    session.commit()
    assert _minutes(session) == _fresh(session) == {"APA75": 37}

    # A new visit, then the plan's maximum lowered: the rest is beyond the plan.
    second = _visit(session, org, "v2", VISIT_AT + timedelta(days=1))
    session.commit()
    assert _minutes(session) == {"APA75": 97}
    session.execute(update(CarePlan).where(CarePlan.id == plan.id).values(max_hours=0.5))
    session.commit()
    billing = month_billing(session, OCTOBER)[1]
    assert sum(ln.kept_minutes for ln in billing.lines if ln.key.category.value == "within") == 30
    assert _minutes(session) == _fresh(session)
    session.execute(
        update(CarePlan).where(CarePlan.id == plan.id).values(ends_on=date(2026, 10, 1))
    )
    session.commit()
    assert _minutes(session) == _fresh(session) == {"": 97}
    session.execute(update(CarePlan).where(CarePlan.id == plan.id).values(ends_on=None))
    session.commit()

    # Other rules, other allocation; the same rules again, the same figures.
    quarter = {"APA75": Rounding(15, RoundingMode.UP)}
    assert _minutes(session, quarter) == {"APA75": 105}
    assert _minutes(session) == {"APA75": 97}

    # A deletion, and a visit's times rewritten without a new version (a restore, a script).
    service.correct_visit(
        session,
        visit,
        started_at=None,
        ended_at=None,
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
        delete=True,
    )
    session.commit()
    assert _minutes(session) == _fresh(session) == {"APA75": 60}
    session.execute(
        update(Visit)
        .where(Visit.id == second.id)
        .values(ended_at=VISIT_AT + timedelta(days=1, minutes=20))
    )
    session.commit()
    assert _minutes(session) == _fresh(session) == {"APA75": 20}


def test_a_scope_has_figures_of_its_own(session: Session, org: SmallOrg) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    factories.care_plan(session, org.ben_a1, apa)
    _visit(session, org, "v1")
    session.commit()
    other = {org.ben_a1.antenna_id + 1000}
    assert month_billing(session, OCTOBER, None, other)[1].lines == ()
    assert _minutes(session) == {"APA75": 60}
    assert month_billing(session, OCTOBER, None, {org.ben_a1.antenna_id})[
        1
    ].minutes_by_funder() == ({"APA75": 60})


def test_one_persons_month_does_not_push_the_month_out(session: Session, org: SmallOrg) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    factories.care_plan(session, org.ben_a1, apa)
    _visit(session, org, "v1")
    session.commit()
    month = month_billing(session, OCTOBER)[1]
    for _ in range(5):
        one = month_billing(session, OCTOBER, beneficiary_id=org.ben_a1.id)[1]
        assert one.minutes_by_funder() == {"APA75": 60}
        month_billing(session, OCTOBER, worker_id=org.worker_a1.id)
    assert month_billing(session, OCTOBER)[1] is month


def test_the_plans_of_several_months_are_each_month_s_plans_in_force(
    session: Session, org: SmallOrg
) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    old = factories.care_plan(session, org.ben_a1, apa, ends_on=date(2026, 2, 1))
    spring = factories.care_plan(
        session, org.ben_a1, apa, starts_on=date(2026, 3, 31), ends_on=date(2026, 5, 1)
    )
    later = factories.care_plan(session, org.ben_b1, apa, starts_on=date(2026, 11, 30))
    session.commit()
    # Not contiguous: the closed months of a year with a month in review.
    months = [Month(2026, m) for m in (1, 2, 3, 5, 6, 11, 12)]
    found = month_plans(session, months)
    assert {m.month: [p.plan_id for p in plans] for m, plans in found.items()} == {
        1: [old.id],
        2: [old.id],
        3: [spring.id],
        5: [spring.id],
        6: [],
        11: [later.id],
        12: [later.id],
    }
    # Each month as its own facts read it; one antenna's beneficiaries only.
    assert found[Month(2026, 3)] == load_month_facts(session, Month(2026, 3)).plans
    assert (
        month_plans(session, months, [org.antenna_b.id])[Month(2026, 12)] == found[Month(2026, 12)]
    )
    assert month_plans(session, months, [org.antenna_a.id])[Month(2026, 12)] == []
