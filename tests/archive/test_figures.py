"""Property: a statement's figures equal the ledger's for a generated month."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.figures import Organisation, compute_figures
from archive.loader import load_inputs
from ledger.models import Visit, VisitStatus
from ledger.motives import Motive
from ledger.service import correct_visit
from ledger.timeutil import as_utc
from tests import factories
from tests.archive.conftest import add_visit

ORG = Organisation("Org", "adresse", "siret", "tel")

visit_spec = st.tuples(
    st.integers(1, 31),  # day of October
    st.integers(6 * 60, 21 * 60),  # start, minutes after midnight (Paris)
    st.integers(5, 240),  # length in minutes
    st.integers(0, 59),  # extra seconds
    st.sampled_from(["keep", "keep", "keep", "correct", "delete", "incomplete"]),
    st.sampled_from(["AIDE", "MENAGE", None]),
)


def _minute(moment: datetime) -> datetime:
    return as_utc(moment).replace(second=0, microsecond=0)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    visits=st.lists(visit_spec, min_size=0, max_size=25),
    plan_hours=st.lists(st.integers(0, 40), min_size=0, max_size=3),
)
def test_statement_figures_equal_the_ledger(
    session: Session,
    visits: list[tuple[int, int, int, int, str, str | None]],
    plan_hours: list[int],
) -> None:
    ant = factories.antenna(session)
    worker = factories.worker(session, ant)
    ben = factories.beneficiary(session, ant)
    for index, hours in enumerate(plan_hours):
        funder = factories.funder(session)
        factories.care_plan(
            session, ben, funder, max_hours=hours, service_code=("AIDE", "MENAGE")[index % 2]
        )
    for day, start, length, seconds, action, service in visits:
        local = datetime(2026, 10, day) + timedelta(minutes=start, seconds=seconds)
        visit = add_visit(
            session,
            worker,
            ben,
            local,
            length,
            service_code=service,
            status=VisitStatus.INCOMPLETE if action == "incomplete" else VisitStatus.COMPLETE,
        )
        if action in ("correct", "delete"):
            assert visit.started_at is not None
            correct_visit(
                session,
                visit,
                started_at=visit.started_at + timedelta(minutes=7),
                ended_at=visit.started_at + timedelta(minutes=7 + length),
                motive=Motive.TIME_ERROR,
                comment="",
                author="manager",
                delete=action == "delete",
            )
    session.commit()

    inputs = load_inputs(session, ORG, 2026, 10, [ben.id])
    rows = session.scalars(
        select(Visit).where(
            Visit.beneficiary_id == ben.id,
            Visit.service_date >= datetime(2026, 10, 1).date(),
            Visit.service_date <= datetime(2026, 10, 31).date(),
        )
    ).all()
    if not rows:
        assert inputs == []
        return
    [data] = inputs
    figures = compute_figures(data)

    live = [v for v in rows if v.status is not VisitStatus.DELETED]
    complete = [v for v in live if v.started_at is not None and v.ended_at is not None]
    expected_minutes = sum(
        int((_minute(v.ended_at) - _minute(v.started_at)).total_seconds() // 60)  # type: ignore[arg-type]
        for v in complete
    )
    assert {line.visit_id for line in figures.lines} == {v.id for v in rows}
    assert figures.total_minutes == expected_minutes
    assert figures.counted_visits == len(complete)
    assert figures.incomplete_visits == len(live) - len(complete)
    assert figures.deleted_visits == len(rows) - len(live)
    assert sum(t.minutes for t in figures.by_funder) == expected_minutes
    for line in figures.lines:
        visit = next(v for v in rows if v.id == line.visit_id)
        assert line.corrected == (visit.version > 1)
        assert line.deleted == (visit.status is VisitStatus.DELETED)
    # Hours done within each plan never exceed what it allows unless marked beyond it.
    plans = {p.plan_id: p for p in data.plans}
    for use in figures.plans:
        assert use.planned_minutes == plans[use.plan_id].max_minutes
    assert sum(u.done_minutes for u in figures.plans) <= expected_minutes
