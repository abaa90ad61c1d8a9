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

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, generators, pq
from sqlalchemy import Column, Connection, MetaData, Table, text

from ledger.bulk import read_in, write_rows


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the given order."""
    if rows:
        write_rows(connection, table, _with_defaults(table, rows))


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    defaults = _defaults(table, set(rows[0]))
    if defaults:
        return [{**row, **defaults} for row in rows]
    return rows


def _defaults(table: Table, keys: set[str]) -> dict[str, Any]:
    """The Python-side defaults of the columns left out of ``keys``. A callable such
    as ``utc_now`` is called once for the rows of one call, not once per row as
    Core would: they are written at the same instant of one transaction, and the
    same value encodes once (a tenth of the writing time)."""
    return {
        column.key: _default_value(column)
        for column in table.columns
        if column.key not in keys
        and column.default is not None
        and (column.default.is_scalar or column.default.is_callable)
    }


def _default_value(column: Any) -> Any:
    default = column.default
    if default.is_scalar:
        return default.arg
    # SQLAlchemy wraps a column's default callable to take the execution context.
    return default.arg(None)


class WriteBehind:
    """A chunk's new rows, checked by the server while the client reads the next chunk.

    On PostgreSQL the rows of each table go by ``COPY`` into a temporary table
    of their own (no index, no foreign key: about a twentieth of the server's
    work), and ``send`` moves them into their tables, in the order they came,
    by one statement whose result only ``wait`` awaits: the server indexes and
    checks the rows (a referential check per row) while the client parses the
    next chunk. Between ``send`` and ``wait`` nothing else may use the
    connection; ``wait`` raises the server's error, if any. New rows' ids are
    taken from the table's sequence beforehand (``insert_new``), so that rows
    referring to them can follow before they are written.

    Elsewhere (SQLite, whose work is the client's own) the rows are inserted
    at once and ``send`` and ``wait`` do nothing. Either way the rows, their
    ids and the order of the ids are those ``insert_many`` gives.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._behind = connection.dialect.name == "postgresql"
        self._quote = connection.dialect.identifier_preparer
        #: The temporary table of each target table, created at its first rows.
        self._staging: dict[Table, Table] = {}
        #: Target tables with rows since the last ``send``, in the order of their first rows.
        self._staged: dict[Table, None] = {}
        self._sent = False

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Append ``rows`` (dicts with the same keys) to ``table`` in order, by ``send``."""
        if not rows:
            return
        if not self._behind:
            insert_many(self._connection, table, rows)
            return
        rows = _with_defaults(table, rows)
        self._stage(table, rows)

    def _stage(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        write_rows(self._connection, self._staging_of(table, list(rows[0])), rows)
        self._staged[table] = None

    def insert_new(self, table: Table, rows: Sequence[dict[str, Any]], key: str) -> dict[Any, int]:
        """``insert`` rows whose ``id`` the table gives; their ids by their ``key`` column."""
        if not rows:
            return {}
        if not self._behind:
            insert_many(self._connection, table, rows)
            return dict(read_in(self._connection, table, (key, "id"), key, [r[key] for r in rows]))
        # In one session the sequence's values come in order: the ids a COPY would give.
        cursor = self._connection.connection.cursor()
        try:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                (self._name(table), len(rows)),
            )
            ids = [row_id for (row_id,) in cursor.fetchall()]
        finally:
            cursor.close()
        # One copy of each row, with its id and the defaults.
        defaults = _defaults(table, {*rows[0], "id"})
        self._stage(
            table,
            [{**row, **defaults, "id": row_id} for row, row_id in zip(rows, ids, strict=True)],
        )
        return {row[key]: row_id for row, row_id in zip(rows, ids, strict=True)}

    def _staging_of(self, table: Table, columns: list[str]) -> Table:
        staging = self._staging.get(table)
        if staging is None:
            staging = Table(
                f"_behind_{table.name}",
                MetaData(),
                *(Column(table.c[key].name, table.c[key].type.copy()) for key in columns),
            )
            # The columns' types without their constraints; rows numbered as copied.
            self._connection.execute(
                text(
                    f"CREATE TEMPORARY TABLE {self._name(staging)} ON COMMIT DROP AS "
                    f"SELECT {self._columns(staging)} FROM {self._name(table)} WITH NO DATA"
                )
            )
            self._connection.execute(
                text(
                    f"ALTER TABLE {self._name(staging)} "
                    "ADD COLUMN _n bigint GENERATED ALWAYS AS IDENTITY"
                )
            )
            self._staging[table] = staging
        assert [c.name for c in staging.columns] == [table.c[k].name for k in columns]
        return staging

    def send(self) -> None:
        """Move the rows inserted since the last ``send`` into their tables, not waiting."""
        assert not self._sent
        if not self._staged:
            return
        statements = []
        for table in self._staged:
            staging = self._staging[table]
            names = self._columns(staging)
            statements.append(
                f"INSERT INTO {self._name(table)} ({names}) "
                f"SELECT {names} FROM {self._name(staging)} ORDER BY _n"
            )
        statements.append(
            "TRUNCATE " + ", ".join(self._name(self._staging[t]) for t in self._staged)
        )
        self._staged.clear()
        driver = self._driver()
        driver.pgconn.send_query("; ".join(statements).encode())
        driver.wait(generators.send(driver.pgconn))
        self._sent = True

    def wait(self) -> None:
        """Await what ``send`` sent; the server's error, if any, is raised here."""
        if not self._sent:
            return
        self._sent = False
        driver = self._driver()
        for result in driver.wait(generators.fetch_many(driver.pgconn)):
            if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                raise errors.error_from_result(result, encoding=driver.info.encoding)

    def abandon(self) -> None:
        """Await what was sent, its error ignored: the transaction is being rolled back."""
        with contextlib.suppress(Exception):
            self.wait()

    def close(self) -> None:
        """Drop the temporary tables (a transaction that goes on after the import)."""
        self.wait()
        if self._staging:
            names = ", ".join(self._name(staging) for staging in self._staging.values())
            self._connection.execute(text(f"DROP TABLE {names}"))
            self._staging.clear()

    def _driver(self) -> psycopg.Connection[Any]:
        driver = self._connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        return driver

    def _name(self, table: Table) -> str:
        return self._quote.format_table(table)

    def _columns(self, table: Table) -> str:
        return ", ".join(self._quote.quote(column.name) for column in table.columns)
