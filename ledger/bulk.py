"""The ledger's bulk path: a whole stream of recorded calls folded into visits at once.

For loaders of history (the demo organisation, benchmarks, a migration from
another télégestion) where calling ``ledger.service.record_call`` once per
call would take minutes. It is the same rule: ``ledger.pairing.pair_calls`` is
the batch fold of ``apply_call`` (a property test checks it), and
``tests/ledger/test_bulk.py`` checks that this path leaves the same visits and
versions as ``record_call`` one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from ledger.models import CallEvent, Visit, VisitStatus, VisitVersion, Worker
from ledger.money import counts, recorded_minutes
from ledger.pairing import CallFact, pair_calls
from ledger.timeutil import paris_date

_CHUNK = 5000


@dataclass(frozen=True)
class BulkResult:
    call_events: int
    visits: int
    incomplete: int
    #: Recorded minutes of the complete visits (``ledger.money.recorded_minutes``).
    complete_minutes: int


def bulk_record_calls(
    session: Session,
    events: Sequence[dict[str, Any]],
    facts: Sequence[CallFact],
    *,
    author: str,
) -> BulkResult:
    """Insert ``events`` (``call_events`` rows with explicit ids) and the visits they make.

    ``facts`` are the identified calls among ``events`` (event id, worker,
    beneficiary, time, direction). The session is not committed.
    """
    for chunk in range(0, len(events), _CHUNK):
        session.execute(insert(CallEvent), list(events[chunk : chunk + _CHUNK]))
    visits = pair_calls(list(facts))
    worker_ids = sorted({v.worker_id for v in visits})
    antenna_of_worker: dict[int, int] = {}
    for chunk in range(0, len(worker_ids), _CHUNK):
        for wid, aid in session.execute(
            select(Worker.id, Worker.antenna_id).where(
                Worker.id.in_(worker_ids[chunk : chunk + _CHUNK])
            )
        ):
            antenna_of_worker[wid] = aid
    first_visit_id = (session.scalar(select(func.max(Visit.id))) or 0) + 1
    visit_rows: list[dict[str, Any]] = []
    version_rows: list[dict[str, Any]] = []
    incomplete = complete_minutes = 0
    for offset, paired in enumerate(visits):
        status = VisitStatus.COMPLETE if paired.is_complete else VisitStatus.INCOMPLETE
        anchor = paired.started_at or paired.ended_at
        assert anchor is not None
        visit_rows.append(
            {
                "id": first_visit_id + offset,
                "worker_id": paired.worker_id,
                "beneficiary_id": paired.beneficiary_id,
                "antenna_id": antenna_of_worker[paired.worker_id],
                "arrival_event_id": paired.arrival_event_id,
                "departure_event_id": paired.departure_event_id,
                "started_at": paired.started_at,
                "ended_at": paired.ended_at,
                "service_date": paris_date(anchor),
                "status": status,
                "service_code": None,
                "version": 1,
            }
        )
        version_rows.append(
            {
                "visit_id": first_visit_id + offset,
                "version": 1,
                "started_at": paired.started_at,
                "ended_at": paired.ended_at,
                "status": status,
                "motive": None,
                "comment": "",
                "author": author,
                "created_at": paired.ended_at or paired.started_at,
            }
        )
        if status is VisitStatus.INCOMPLETE:
            incomplete += 1
        elif counts(status, paired.started_at, paired.ended_at):
            assert paired.started_at is not None and paired.ended_at is not None
            complete_minutes += recorded_minutes(paired.started_at, paired.ended_at)
    for chunk in range(0, len(visit_rows), _CHUNK):
        session.execute(insert(Visit), visit_rows[chunk : chunk + _CHUNK])
        session.execute(insert(VisitVersion), version_rows[chunk : chunk + _CHUNK])
    advance_sequences(session, ("call_events", "visits"))
    return BulkResult(len(events), len(visit_rows), incomplete, complete_minutes)


def advance_sequences(session: Session, tables: tuple[str, ...]) -> None:
    """Rows were inserted with explicit ids: move PostgreSQL's sequences past them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        )
