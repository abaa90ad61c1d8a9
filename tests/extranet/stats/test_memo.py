"""The statistics' memo of allocated months gives the ledger's figures, never older than the data.

On PostgreSQL a month is given back from the memo while its fingerprint (rows
and ``xmin`` of its visits, plans and funders) is unchanged; any change to one
of them allocates it again. Elsewhere the memo computes every time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from extranet.stats.memo import MonthMemo
from ledger.facts import month_billing
from ledger.models import FunderKind, Visit, VisitStatus
from ledger.money import Rounding
from ledger.timeutil import Month
from tests import factories
from tests.factories import SmallOrg

MONTH = Month(2026, 10)
RULES: dict[str, Rounding] = {}


def _visit(session: Session, org: SmallOrg, day: int, minutes: int) -> Visit:
    start = datetime(2026, 10, day, 8, 0, tzinfo=UTC)
    visit = Visit(
        worker_id=org.worker_a1.id,
        beneficiary_id=org.ben_a1.id,
        antenna_id=org.antenna_a.id,
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
        service_date=date(2026, 10, day),
        status=VisitStatus.COMPLETE,
        version=1,
    )
    session.add(visit)
    session.flush()
    return visit


def _same(memo: MonthMemo, session: Session, antennas: frozenset[int] | None) -> None:
    assert memo.month_billing(session, MONTH, RULES, antennas) == month_billing(
        session, MONTH, RULES, antennas
    )


def test_the_memo_gives_the_ledgers_figures_and_follows_every_change(
    session: Session, org: SmallOrg
) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"
    apa = factories.funder(session, FunderKind.APA)
    factories.care_plan(session, org.ben_a1, apa, starts_on=date(2026, 1, 1))
    visit = _visit(session, org, 5, 60)
    _visit(session, org, 6, 45)
    session.commit()
    memo = MonthMemo()
    antennas = frozenset({org.antenna_a.id})
    for scope in (antennas, None):
        _same(memo, session, scope)
    _same(memo, session, antennas)
    assert memo.hits == (1 if postgres else 0)

    changes = [
        lambda: setattr(visit, "ended_at", visit.ended_at + timedelta(minutes=7)),  # type: ignore[operator]
        lambda: _visit(session, org, 7, 30),
        lambda: factories.care_plan(
            session, org.ben_a1, factories.funder(session, FunderKind.MUTUAL)
        ),
        lambda: setattr(apa, "kind", FunderKind.PCH),
        lambda: setattr(visit, "status", VisitStatus.DELETED),
    ]
    for change in changes:
        hits = memo.hits
        change()
        session.commit()
        _same(memo, session, antennas)
        assert memo.hits == hits, "a change must allocate the month again"
        _same(memo, session, antennas)
        assert memo.hits == hits + (1 if postgres else 0)


def test_the_memo_keeps_at_most_its_bound(session: Session, org: SmallOrg) -> None:
    for day in range(1, 6):
        _visit(session, org, day, 60)
    session.commit()
    memo = MonthMemo(max_visits=3)
    _same(memo, session, None)
    _same(memo, session, None)
    assert memo.hits == 0  # five visits: more than the bound, never kept
