"""The ledger's bulk path: a whole stream of recorded calls folded into visits at once.

For loaders of history (the demo organisation, benchmarks, a migration from
another télégestion) where calling ``ledger.service.record_call`` once per
call would take minutes. It is the same rule: ``ledger.pairing.pair_calls`` is
the batch fold of ``apply_call`` (a property test checks it), and
``tests/ledger/test_bulk.py`` checks that this path leaves the same visits and
versions as ``record_call`` one by one.

``write_rows`` (the bulk writer) and its reading counterpart ``read_in`` with
``row_encoder`` and ``row_decoder`` go straight to the DBAPI cursor, for the
imports (decision 0205) as for these loaders.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Dialect,
    Enum,
    Numeric,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session

from ledger.models import Base, Visit, VisitStatus, Worker
from ledger.money import counts, recorded_minutes
from ledger.pairing import MAX_OPEN_VISIT, CallFact, pair_calls
from ledger.timeutil import as_utc, paris_date

_CHUNK = 5000
_TABLES = Base.metadata.tables


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

    The stream is paired on its own: it must be a past that no visit already
    in the ledger could take part in. ``BulkConflict`` is raised, before
    anything is written, when a worker of the stream has a visit that ends
    (or, open, starts) at or after ``MAX_OPEN_VISIT`` before the stream's
    first call: that visit could be closed by one of the calls, or fall
    between them, and only ``record_call`` one call at a time pairs those.
    """
    session.flush()
    _refuse_overlap(session, facts)
    write_rows(session, _TABLES["call_events"], events)
    planned = visit_rows(session, facts, author=author)
    write_rows(session, _TABLES["visits"], planned.visits)
    write_rows(session, _TABLES["visit_versions"], planned.versions)
    advance_sequences(session, ("call_events", "visits"))
    return BulkResult(
        len(events), len(planned.visits), planned.incomplete, planned.complete_minutes
    )


@dataclass(frozen=True)
class VisitRows:
    """The ``visits`` and ``visit_versions`` rows a stream of calls makes."""

    visits: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    incomplete: int
    complete_minutes: int


def visit_rows(session: Session, facts: Sequence[CallFact], *, author: str) -> VisitRows:
    """Pair ``facts`` and build the rows of their visits and first versions (not written).

    Ids follow the largest visit id in the database. Reads the workers' antennas.
    """
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
    return VisitRows(visit_rows, version_rows, incomplete, complete_minutes)


class BulkConflict(ValueError):
    """The stream would pair with visits already in the ledger (``bulk_record_calls``)."""


def _refuse_overlap(session: Session, facts: Sequence[CallFact]) -> None:
    if not facts:
        return
    since = min(as_utc(f.at) for f in facts) - MAX_OPEN_VISIT
    worker_ids = sorted({f.worker_id for f in facts})
    last = func.coalesce(Visit.ended_at, Visit.started_at)
    for chunk in range(0, len(worker_ids), _CHUNK):
        clash = session.execute(
            select(Visit.id, Visit.worker_id)
            .where(Visit.worker_id.in_(worker_ids[chunk : chunk + _CHUNK]), last >= since)
            .limit(1)
        ).first()
        if clash is not None:
            raise BulkConflict(
                f"worker {clash.worker_id} already has visit {clash.id} at or after "
                f"{since.isoformat()}: record these calls one by one (ledger.service.record_call)"
            )


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


# --- the writer ------------------------------------------------------------

_Encode = Callable[[Any], Any]


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format, "%04d-%02d-%02d %02d:%02d:%02d.%06d",
    # which ignores the offset: isoformat's first 26 characters are exactly that.
    return value.isoformat(" ", "microseconds")[:26]


# Dates repeat across rows (starts, birth dates): each distinct one is formatted
# once. (Not datetimes: equal instants in other offsets are equal keys, and the
# stored text keeps the wall time.)
@functools.lru_cache(maxsize=4096)
def _sqlite_date(value: date) -> str:
    return value.isoformat()


def _enum_value(value: Any) -> Any:
    # A member's value without the descriptor behind ``.value``; a name given
    # as a plain string goes through as it is, as with SQLAlchemy's Enum.
    return getattr(value, "_value_", value)


def _encoder(column_type: Any, dialect: Dialect) -> _Encode | None:
    """What SQLAlchemy's bind processor does to a value of this type, only faster.

    Types we do not know keep SQLAlchemy's own processor, so the stored values
    are always those a Core ``insert()`` stores (``tests/ledger/test_bulk.py``).
    """
    if isinstance(column_type, Enum):
        return _enum_value
    if dialect.name == "sqlite" and isinstance(column_type, DateTime):
        return _sqlite_datetime
    if dialect.name == "sqlite" and isinstance(column_type, Date):
        return _sqlite_date
    if dialect.name == "postgresql" and isinstance(column_type, DateTime | Date):
        return None  # psycopg adapts dates and aware datetimes itself
    processor: _Encode | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def row_encoder(table: Table, columns: list[str], dialect: Dialect) -> Callable[[Any], list[Any]]:
    """The values of ``columns`` of a row (a mapping) as the database stores them."""
    get = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    convert = [
        (i, encode)
        for i, name in enumerate(columns)
        if (encode := _encoder(table.c[name].type, dialect)) is not None
    ]

    # The value last encoded in each column, and its encoding: rows written
    # together share values (a chunk's ``created_at``, one object), kept by identity.
    last: list[tuple[Any, Any]] = [(None, None)] * len(columns)

    def encode_row(row: Mapping[str, Any]) -> list[Any]:
        values = list(get(row))
        for i, encode in convert:
            value = values[i]
            if value is None:
                continue
            seen, encoded = last[i]
            if value is not seen:
                encoded = encode(value)
                last[i] = (value, encoded)
            values[i] = encoded
        return values

    return encode_row


#: Bound parameters per SQLite statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
_SQLITE_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def write_rows(
    session: Session | Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Append ``rows`` (dicts with the same keys) to ``table`` in the session's transaction.

    The values stored are those a Core ``insert(table)`` would store; the rows
    go in with what each database does fastest: PostgreSQL's ``COPY`` (through
    psycopg 3), SQLite's multi-row ``INSERT ... VALUES``, whose constraints
    (the enums' ``CHECK ... IN``) are prepared once per statement instead of
    once per row. Triggers and constraints hold as for any insert.
    """
    if not rows:
        return
    columns = list(rows[0])
    connection = session.connection() if isinstance(session, Session) else session
    dialect = connection.dialect
    encode_row = row_encoder(table, columns, dialect)
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.quote(table.c[key].name) for key in columns)
    target = preparer.format_table(table)
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(encode_row(row))
            return
        per_statement = max(1, min(1000, _SQLITE_VARIABLES // len(columns)))
        one = "(" + ", ".join("?" * len(columns)) + ")"
        full = f"INSERT INTO {target} ({names}) VALUES " + ", ".join([one] * per_statement)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [value for row in chunk for value in encode_row(row)]
            if len(chunk) == per_statement:
                cursor.execute(full, params)
            else:
                tail = ", ".join([one] * len(chunk))
                cursor.execute(f"INSERT INTO {target} ({names}) VALUES {tail}", params)
    finally:
        cursor.close()


def read_in(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    key: str,
    values: Sequence[Any],
    active_on: tuple[str, date] | None = None,
) -> list[tuple[Any, ...]]:
    """The ``columns`` of the rows whose ``key`` is in ``values`` (and, given
    ``active_on`` = (column, day), whose column is null or on or after the day),
    as the database stores them: straight from the DBAPI cursor, without
    SQLAlchemy's compiling of the IN list and processing of each row (a tenth
    of an import of unchanged rows). Compare them with values encoded by
    ``row_encoder``."""
    if not values:
        return []
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"SELECT {', '.join(preparer.quote(table.c[c].name) for c in columns)}"
        f" FROM {preparer.format_table(table)} WHERE {preparer.quote(table.c[key].name)}"
    )
    params: list[Any]
    if dialect.name == "postgresql":
        # One array parameter: the same short statement every time (psycopg parses
        # a statement of thousands of placeholders on each execution).
        sql += f" = ANY({mark})"
        params = [list(values)]
    else:
        sql += f" IN ({', '.join([mark] * len(values))})"
        params = list(values)
    if active_on is not None:
        column, day = active_on
        name = preparer.quote(table.c[column].name)
        sql += f" AND ({name} IS NULL OR {name} >= {mark})"
        params.append(row_encoder(table, [column], dialect)({column: day})[0])
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _decoder(column_type: Any, dialect: Dialect) -> _Encode | None:
    """What SQLAlchemy's result processor does to a raw value of this type."""
    if dialect.name == "postgresql":
        # psycopg returns dates, numbers and text as Python values; the processors
        # of its dialect need the cursor's type codes, which a raw read does not keep.
        if isinstance(column_type, Numeric) and not column_type.asdecimal:
            return float
        return None
    processor: _Encode | None = column_type.dialect_impl(dialect).result_processor(dialect, None)
    return processor


def row_decoder(
    table: Table, columns: Sequence[str], dialect: Dialect
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """Raw rows of ``read_in`` as a Core ``select`` returns them: each column
    through its type's own result processor (SQLite's dates from their text,
    numbers as the column says), each distinct value decoded once."""
    processors = [
        (i, functools.lru_cache(maxsize=4096)(processor))
        for i, name in enumerate(columns)
        if (processor := _decoder(table.c[name].type, dialect)) is not None
    ]

    def decode(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for i, processor in processors:
            if values[i] is not None:
                values[i] = processor(values[i])
        return tuple(values)

    return decode
