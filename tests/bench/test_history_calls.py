"""The extranet bench's history visits have their calls (issue 14): each visit its
arrival and departure, answered at its times, except the incomplete ones (the departure
missing) and the corrected ones (one call missing, then a version with a motive); a
database built before gets them in place and its closed months' counts again.

PostgreSQL only: the bench's SQL is PostgreSQL's (as its database is).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.extranet.run import give_history_calls
from ledger.call_figures import missing_call
from ledger.models import (
    CallEvent,
    Identification,
    MonthCallFigure,
    Visit,
    VisitStatus,
    VisitVersion,
)
from ledger.pairing import Direction
from ledger.timeutil import Month
from tests import factories
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="the bench's SQL is PostgreSQL's")

MARCH = Month(2025, 3)


def _visit(
    session: Session,
    org: factories.SmallOrg,
    vid: int,
    day: int,
    status: VisitStatus,
    *,
    ended: bool = True,
) -> None:
    session.add(
        Visit(
            id=vid,
            worker_id=org.worker_a1.id,
            beneficiary_id=org.ben_a1.id,
            antenna_id=org.antenna_a.id,
            started_at=datetime(2025, 3, day, 8, 0, tzinfo=UTC),
            ended_at=datetime(2025, 3, day, 9, 30, tzinfo=UTC) if ended else None,
            service_date=date(2025, 3, day),
            status=status,
            version=1,
        )
    )


def test_history_visits_get_their_calls_and_the_closed_months_count_again(
    session: Session, org: factories.SmallOrg, database_url: str
) -> None:
    # As the bench built its history before: no calls, no versions.
    _visit(session, org, 1, 3, VisitStatus.COMPLETE)
    _visit(session, org, 2, 4, VisitStatus.INCOMPLETE, ended=False)
    _visit(session, org, 3, 5, VisitStatus.CORRECTED)  # id % 3 == 0: the arrival missing
    _visit(session, org, 4, 6, VisitStatus.CORRECTED)  # else the departure missing
    _visit(session, org, 5, 7, VisitStatus.COMPLETE)
    # The demo month after it: its visits have versions (and are left alone).
    session.add(
        Visit(
            id=10,
            worker_id=org.worker_a1.id,
            beneficiary_id=org.ben_a1.id,
            antenna_id=org.antenna_a.id,
            started_at=datetime(2025, 4, 10, 8, 0, tzinfo=UTC),
            ended_at=datetime(2025, 4, 10, 9, 0, tzinfo=UTC),
            service_date=date(2025, 4, 10),
            status=VisitStatus.COMPLETE,
            version=1,
        )
    )
    session.flush()
    session.add(
        VisitVersion(
            visit_id=10,
            version=1,
            started_at=datetime(2025, 4, 10, 8, 0, tzinfo=UTC),
            ended_at=datetime(2025, 4, 10, 9, 0, tzinfo=UTC),
            status=VisitStatus.COMPLETE,
            comment="",
            author="system:demo",
            created_at=datetime(2025, 4, 10, 8, 0, tzinfo=UTC),
        )
    )
    session.commit()
    factories.close_month(session, MARCH)
    kept = select(func.sum(MonthCallFigure.visits))
    assert session.scalar(kept) == 5  # every history visit counted "entered by hand"
    session.close()

    given = give_history_calls(database_url)

    assert given["events"] == 2 + 1 + 1 + 1 + 2
    assert given["closed_months"] == 1
    events = {
        (e.beneficiary_id, e.direction, e.answered_at): e
        for e in session.scalars(select(CallEvent))
    }
    visits = {v.id: v for v in session.scalars(select(Visit))}
    for vid, arrival, departure in (
        (1, True, True),
        (2, True, False),
        (3, False, True),
        (4, True, False),
        (5, True, True),
        (10, False, False),
    ):
        v = visits[vid]
        assert (v.arrival_event_id is not None, v.departure_event_id is not None) == (
            arrival,
            departure,
        ), vid
        for event_id, direction, at in (
            (v.arrival_event_id, Direction.ARRIVAL, v.started_at),
            (v.departure_event_id, Direction.DEPARTURE, v.ended_at),
        ):
            if event_id is None:
                continue
            event = session.get_one(CallEvent, event_id)
            assert (event.direction, event.answered_at, event.identification) == (
                direction,
                at,
                Identification.OK,
            )
            assert (event.beneficiary_id, event.worker_id, event.antenna_id) == (
                v.beneficiary_id,
                v.worker_id,
                v.antenna_id,
            )
            assert event.caller_e164 == "+33145678901"
    assert len(events) == 7
    # The corrected ones: their first version incomplete, the second corrected with a motive.
    versions = session.execute(
        select(
            VisitVersion.visit_id,
            VisitVersion.version,
            VisitVersion.status,
            VisitVersion.motive,
            VisitVersion.started_at,
            VisitVersion.ended_at,
        )
        .where(VisitVersion.visit_id < 10)
        .order_by(VisitVersion.visit_id, VisitVersion.version)
    ).all()
    assert [(v, n, s, m is not None) for v, n, s, m, _s, _e in versions] == [
        (2, 1, VisitStatus.INCOMPLETE, False),
        (3, 1, VisitStatus.INCOMPLETE, False),
        (3, 2, VisitStatus.CORRECTED, True),
        (4, 1, VisitStatus.INCOMPLETE, False),
        (4, 2, VisitStatus.CORRECTED, True),
    ]
    assert versions[1][4] is None  # visit 3 appeared with its departure call
    assert versions[3][5] is None  # visit 4 with its arrival call
    assert [visits[v].version for v in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 1]
    # The closed month counts again: the incomplete and the corrected, as the live rule.
    rows = session.execute(
        select(MonthCallFigure.kind, MonthCallFigure.corrected, MonthCallFigure.visits).order_by(
            MonthCallFigure.service_date
        )
    ).all()
    assert rows == [("depart", False, 1), ("arrivee", True, 1), ("depart", True, 1)]
    live = select(func.count()).where(missing_call(), Visit.service_date < date(2025, 4, 1))
    assert session.scalar(live) == 3
    # A second run finds the history called already.
    with pytest.raises(SystemExit):
        give_history_calls(database_url)
