"""``record_call`` in Core statements leaves the rows the ORM's unit of work left.

The reference below is ``record_call`` as it was before decision 0105's lean
write path: the event added to the session, folded by ``_fold_call`` (which a
manager's attachment still uses) and audited through ``audit``. Both run the
same calls, committed in the same groups as the IVR's group committer does, on
two databases; every stored value of the four tables they write must be equal,
but the times the database stamps itself (``recorded_at``, ``created_at``,
``at``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from config.database import create_schema
from ledger import service
from ledger.db import make_engine, make_session_factory
from ledger.models import (
    CallEvent,
    CallOutcome,
    Identification,
    MonthClosure,
    Visit,
    VisitStatus,
)
from ledger.pairing import CallFact, Direction
from ledger.phones import normalise
from ledger.service import CallRecord, RecordedCall
from tests import factories

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
#: October 2026 is closed in both databases: its calls are held, not folded.
CLOSED = datetime(2026, 10, 30, 7, 0, tzinfo=UTC)
#: Columns the database stamps with the time of the write.
STAMPS = {"recorded_at", "created_at", "at"}
TABLES = ("call_events", "visits", "visit_versions", "audit_journal")


def orm_record_call(session: Session, record: CallRecord) -> RecordedCall:
    """``record_call`` through the ORM's unit of work (the path before 0105's Core one)."""
    existing = session.scalars(
        select(CallEvent).where(CallEvent.channel_id == record.channel_id)
    ).first()
    if existing is not None:
        return RecordedCall(existing.id, service._visit_of_event(session, existing.id), True)
    antenna_id = service._antenna_of(session, record.beneficiary_id, record.worker_id)
    event = CallEvent(
        channel_id=record.channel_id,
        received_at=record.received_at,
        answered_at=record.answered_at,
        code_completed_at=record.code_completed_at,
        caller_raw=record.caller_raw,
        caller_e164=normalise(record.caller_raw),
        ani_raw=record.ani_raw,
        called_number=record.called_number,
        digits=record.digits,
        candidate_ids=record.candidate_ids,
        beneficiary_id=record.beneficiary_id,
        worker_id=record.worker_id,
        antenna_id=antenna_id,
        identification=record.identification,
        direction=record.direction,
        outcome=record.outcome,
        source=record.source,
    )
    session.add(event)
    session.flush()
    visit_id = None
    if (
        record.outcome is CallOutcome.RECORDED
        and record.worker_id is not None
        and record.beneficiary_id is not None
        and record.direction is not None
    ):
        fact = CallFact(
            event.id, record.worker_id, record.beneficiary_id, record.answered_at, record.direction
        )
        try:
            visit_id = service._fold_call(session, fact, author=service.SYSTEM_IVR).id
        except service.MonthClosed as closed:
            service.audit(
                session,
                service.SYSTEM_IVR,
                "call.held",
                "call_event",
                event.id,
                antenna_id=antenna_id,
                month=str(closed.month),
                reason="month_closed",
            )
    service.audit(
        session,
        service.SYSTEM_IVR,
        "call.recorded",
        "call_event",
        event.id,
        antenna_id=antenna_id,
        outcome=record.outcome.value,
        visit_id=visit_id,
    )
    return RecordedCall(event.id, visit_id, False)


def stored(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the written tables as the database holds it (driver values)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id").mappings()
            out[table] = [{k: v for k, v in row.items() if k not in STAMPS} for row in rows]
    return out


class Ledgers:
    """Two databases with the same people: one written each way."""

    def __init__(self, tmp: Path) -> None:
        self.engines = [make_engine(f"sqlite:///{tmp / f'{n}.sqlite3'}") for n in (0, 1)]
        self.factories: list[sessionmaker[Session]] = []
        for engine in self.engines:
            create_schema(engine)
            factory = make_session_factory(engine)
            with factory() as session:
                org = factories.small_org(session)
                session.add(MonthClosure(year=2026, month=10, closed=True, revision=1))
                session.commit()
            self.factories.append(factory)
        self.workers = (org.worker_a1.id, org.worker_a2.id)
        self.beneficiaries = (org.ben_a1.id, org.ben_a2.id)

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def ledgers(tmp_path: Path) -> Iterator[Ledgers]:
    both = Ledgers(tmp_path)
    yield both
    both.close()


_channels = iter(range(10**9))

#: One call: minutes after T0 (negative: in the closed month), worker and beneficiary
#: (None: unknown), direction, hung up, and whether its group's commit follows it.
calls = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 900), st.just(-1)),
        st.sampled_from([0, 1, None]),
        st.sampled_from([0, 1, None]),
        st.sampled_from([Direction.ARRIVAL, Direction.DEPARTURE, None]),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=calls, repeat=st.booleans())
def test_core_path_writes_the_orm_rows(ledgers: Ledgers, calls: list[Any], repeat: bool) -> None:
    records = []
    for minutes, w, b, direction, hung_up, _ in calls:
        at = CLOSED if minutes < 0 else T0 + timedelta(minutes=minutes)
        worker = None if w is None else ledgers.workers[w]
        beneficiary = None if b is None else ledgers.beneficiaries[b]
        outcome = CallOutcome.HANGUP_BEFORE_DIRECTION if hung_up else CallOutcome.RECORDED
        records.append(
            CallRecord(
                channel_id=f"c{next(_channels)}",
                received_at=at - timedelta(seconds=1),
                answered_at=at,
                caller_raw="0145678901",
                ani_raw=None,
                called_number="0800123456",
                digits="1234",
                code_completed_at=at + timedelta(seconds=5),
                beneficiary_id=beneficiary,
                worker_id=worker,
                identification=Identification.OK,
                direction=None if hung_up else direction,
                outcome=outcome,
            )
        )
    if repeat:
        records.append(records[0])  # a spool line replayed: idempotent
    groups: list[list[CallRecord]] = [[]]
    ends = [call[5] for call in calls] + [False] * (len(records) - len(calls))
    for record, end in zip(records, ends, strict=True):
        groups[-1].append(record)
        if end:
            groups.append([])
    results = []
    for write, factory in zip(
        (orm_record_call, service.record_call), ledgers.factories, strict=True
    ):
        out = []
        for group in groups:
            with factory() as session:
                out += [write(session, record) for record in group]
                session.commit()
        results.append(out)
    assert results[0] == results[1]
    assert stored(ledgers.engines[0]) == stored(ledgers.engines[1])


def test_a_visit_the_session_holds_reads_the_departure(session: Session, org: Any) -> None:
    w, b = org.worker_a1.id, org.ben_a1.id

    def record(channel: str, at: datetime, direction: Direction) -> CallRecord:
        return CallRecord(
            channel_id=channel,
            received_at=at,
            answered_at=at,
            caller_raw="0145678901",
            ani_raw=None,
            called_number=None,
            digits="1234",
            code_completed_at=at,
            beneficiary_id=b,
            worker_id=w,
            identification=Identification.OK,
            direction=direction,
            outcome=CallOutcome.RECORDED,
        )

    arrival = service.record_call(session, record("a", T0, Direction.ARRIVAL))
    visit = session.get_one(Visit, arrival.visit_id)
    assert visit.status is VisitStatus.INCOMPLETE and visit.version == 1
    departure = service.record_call(
        session, record("d", T0 + timedelta(hours=1), Direction.DEPARTURE)
    )
    assert departure.visit_id == visit.id
    # The object the session held shows the departure, as the ORM's own update did.
    assert visit.status is VisitStatus.COMPLETE and visit.version == 2
    assert visit.ended_at == T0 + timedelta(hours=1)
    assert visit.departure_event_id == departure.event_id
    session.commit()
    session.expire_all()
    again = session.get_one(Visit, visit.id)
    assert again.status is VisitStatus.COMPLETE and again.version == 2
