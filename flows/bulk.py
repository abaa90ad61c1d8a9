"""Plain rows inserted by one DBAPI ``executemany``, values converted column by column.

SQLAlchemy's Core ``connection.execute(insert(table), rows)`` builds a
parameter dictionary per row and runs each value through the type's bind
processor: a fifth of an import of new beneficiaries. ``insert_many`` keeps
SQLAlchemy's own SQL (compiled once per table and set of columns), its
dialect's bind processors (so SQLite gets exactly the strings SQLAlchemy would
write, PostgreSQL the objects psycopg adapts), and the columns' Python-side
defaults, but converts a value once per distinct value in a column (dates and
codes repeat a lot) and hands the driver plain tuples: SQLite's ``executemany``
runs in C; on PostgreSQL with psycopg 3 the rows go by ``COPY FROM STDIN``
(its ``executemany``, pipelined, still costs a round of protocol messages per
row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

_Processor = Callable[[Any], Any]


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the given order."""
    if not rows:
        return
    dialect = connection.dialect
    keys = list(rows[0])
    # Columns left out that have a Python-side default get it, row by row, as
    # Core would (a callable such as ``utc_now`` is called for every row).
    defaults = [
        column
        for column in table.columns
        if column.key not in keys
        and column.default is not None
        and (column.default.is_scalar or column.default.is_callable)
    ]
    columns = keys + [c.key for c in defaults]
    compiled = insert(table).compile(dialect=dialect, column_keys=columns)
    order = compiled.positiontup if compiled.positional else None
    processors: dict[str, _Processor | None] = {
        key: table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in columns
    }
    memo: dict[str, dict[tuple[type, Any], Any]] = {key: {} for key in columns}

    def convert(key: str, value: Any) -> Any:
        process = processors[key]
        if process is None or value is None:
            return value
        seen = memo[key]
        # Keyed by type too: 20 and 20.0, equal, need not convert alike.
        memo_key = (type(value), value)
        try:
            return seen[memo_key]
        except KeyError:
            converted = seen[memo_key] = process(value)
            if len(seen) > 10000:
                seen.clear()
            return converted
        except TypeError:  # an unhashable value
            return process(value)

    def full(row: dict[str, Any]) -> dict[str, Any]:
        if not defaults:
            return row
        extra = {c.key: _default_value(c) for c in defaults}
        return {**row, **extra}

    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(
            connection,
            table,
            columns,
            [tuple(convert(k, row[k]) for k in columns) for row in map(full, rows)],
        )
        return
    if order is not None:
        params: list[Any] = [
            tuple(convert(key, values[key]) for key in order) for values in map(full, rows)
        ]
    else:
        params = [
            {key: convert(key, value) for key, value in values.items()}
            for values in map(full, rows)
        ]
    connection.exec_driver_sql(compiled.string, params)


def _copy(
    connection: Connection, table: Table, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """PostgreSQL: ``COPY ... FROM STDIN`` on the session's own connection and
    transaction; rows keep their order (a serial id is drawn row by row)."""
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(table.c[key].name) for key in columns)
    statement = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _default_value(column: Any) -> Any:
    default = column.default
    if default.is_scalar:
        return default.arg
    # SQLAlchemy wraps a column's default callable to take the execution context.
    return default.arg(None)
