"""``ledger.bulk.write_rows`` (COPY, multi-row INSERTs) stores what a Core ``insert()`` stores.

The bulk path's equivalence with ``record_call`` is ``test_bulk.py``; this
checks the writer underneath it value by value, as the database holds them,
for every type it encodes itself (datetimes at any offset, dates, enums,
missing values) and across the statement boundary of SQLite's batches.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from ledger.bulk import write_rows
from ledger.models import (
    Base,
    CallEvent,
    CallOutcome,
    CallSource,
    Identification,
    Visit,
    VisitStatus,
)
from ledger.pairing import Direction
from tests import factories

TABLES = Base.metadata.tables

instants = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]),
)
texts = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)

event_values = st.fixed_dictionaries(
    {
        "received_at": instants,
        "answered_at": instants,
        "code_completed_at": st.none() | instants,
        "caller_raw": texts,
        "caller_e164": st.none() | st.from_regex(r"\+33[0-9]{9}", fullmatch=True),
        "ani_raw": texts,
        "called_number": texts,
        "digits": st.none() | st.from_regex(r"[0-9]{0,12}", fullmatch=True),
        "candidate_ids": st.none() | st.just("12,34"),
        "identification": st.sampled_from(Identification),
        "direction": st.none() | st.sampled_from(Direction),
        "outcome": st.sampled_from(CallOutcome),
        "source": st.sampled_from(CallSource),
        "recorded_at": instants,
    }
)


def _stored(session: Session, table: str, ids: list[int]) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (raw strings on SQLite), without the id."""
    rows = session.execute(
        text(f"SELECT * FROM {table} WHERE id IN ({', '.join(map(str, ids))}) ORDER BY id")
    ).all()
    return [tuple(row)[1:] for row in rows]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(event_values, min_size=1, max_size=5))
def test_written_call_events_equal_core_inserts(
    session: Session, values: list[dict[str, Any]]
) -> None:
    ant = factories.antenna(session)
    wid, bid = factories.worker(session, ant).id, factories.beneficiary(session, ant).id
    first = (session.scalar(select(CallEvent.id).order_by(CallEvent.id.desc())) or 0) + 1
    core, fast = [], []
    for i, v in enumerate(values):
        common = {**v, "worker_id": wid, "beneficiary_id": bid, "antenna_id": ant.id}
        core.append({"id": first + i, "channel_id": f"same-{first}-{i}", **common})
        fast.append({"id": first + len(values) + i, "channel_id": f"same-{first}-{i}", **common})
    session.execute(insert(CallEvent), core)
    # The same channel ids again are refused by the unique key: other ids for the copy.
    for row in fast:
        row["channel_id"] = "fast-" + row["channel_id"]
    write_rows(session, TABLES["call_events"], fast)
    session.flush()
    stored_core = _stored(session, "call_events", [r["id"] for r in core])
    stored_fast = _stored(session, "call_events", [r["id"] for r in fast])
    assert [r[1:] for r in stored_fast] == [r[1:] for r in stored_core]
    assert [r[0] for r in stored_fast] == ["fast-" + r[0] for r in stored_core]
    session.rollback()


@pytest.mark.parametrize("count", [1, 999, 1000, 1001, 2500])
def test_visits_across_statement_batches(session: Session, count: int) -> None:
    """Dates, enums and empty times, in batches that end anywhere (SQLite's 1,000 rows)."""
    ant = factories.antenna(session)
    wid, bid = factories.worker(session, ant).id, factories.beneficiary(session, ant).id
    t0 = datetime(2026, 3, 29, 0, 30, 0, 123456, tzinfo=UTC)  # the spring change in Paris
    rows = []
    for i in range(2 * count):
        at = t0 + timedelta(minutes=7 * i)
        rows.append(
            {
                "id": i + 1,
                "worker_id": wid,
                "beneficiary_id": bid,
                "antenna_id": ant.id,
                "arrival_event_id": None,
                "departure_event_id": None,
                "started_at": at if i % 3 else None,
                "ended_at": at + timedelta(hours=1) if i % 2 else None,
                "service_date": date(2026, 3, 29) + timedelta(days=i % 40),
                "status": list(VisitStatus)[i % len(VisitStatus)],
                "service_code": None if i % 5 else "S1",
                "version": 1 + i % 3,
            }
        )
    session.execute(insert(Visit), rows[:count])
    write_rows(session, TABLES["visits"], [{**r, "id": r["id"] + count} for r in rows[:count]])
    session.flush()
    ids = [r["id"] for r in rows]
    stored = _stored(session, "visits", ids)
    assert stored[count:] == stored[:count]
    assert len(stored) == 2 * count
