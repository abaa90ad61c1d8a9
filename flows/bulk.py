"""Plain rows appended in one go, as the ledger's bulk loader writes them.

SQLAlchemy's Core ``connection.execute(insert(table), rows)`` builds a
parameter dictionary per row and runs each value through the type's bind
processor: a fifth of an import of new beneficiaries. ``insert_many`` adds the
columns' Python-side defaults (``created_at``, evaluated once per call), and
hands the rows to ``ledger.bulk.write_rows`` (decision 0011): each value
encoded by the bind processor's own rule made cheap, then multi-row
``INSERT ... VALUES`` statements on SQLite (its constraints prepared once per
statement, not once per row) and ``COPY FROM STDIN`` on PostgreSQL with
psycopg 3, on the session's own connection and transaction. Rows keep their
order, so ids are assigned as the ORM assigned them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

from ledger.bulk import write_rows


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the given order."""
    if not rows:
        return
    keys = set(rows[0])
    # Columns left out that have a Python-side default get it. A callable such
    # as ``utc_now`` is called once for the rows of one call, not once per row
    # as Core would: they are written at the same instant of one transaction,
    # and the same value encodes once (a tenth of the writing time).
    defaults = {
        column.key: _default_value(column)
        for column in table.columns
        if column.key not in keys
        and column.default is not None
        and (column.default.is_scalar or column.default.is_callable)
    }
    if defaults:
        rows = [{**row, **defaults} for row in rows]
    write_rows(connection, table, rows)


def _default_value(column: Any) -> Any:
    default = column.default
    if default.is_scalar:
        return default.arg
    # SQLAlchemy wraps a column's default callable to take the execution context.
    return default.arg(None)
