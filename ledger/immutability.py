"""Database-level guards that make append-only tables append-only.

The ORM guard in ``ledger.db`` stops honest mistakes; these triggers stop
everything else (a raw UPDATE, another program). The same statements are run
by ``Base.metadata.create_all`` and by the Alembic migration.
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

APPEND_ONLY_TABLES = ("call_events", "visit_versions", "audit_journal")


def trigger_statements(table: str, dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION telegestion_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION telegestion_append_only()",
        ]
    return []


def drop_statements(table: str, dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_update",
            f"DROP TRIGGER IF EXISTS {table}_no_delete",
        ]
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"]
    return []


def install(table: Table) -> None:
    """Attach the triggers to ``create_all`` for this table."""
    for dialect in ("sqlite", "postgresql"):
        for statement in trigger_statements(table.name, dialect):
            # DDL formats its text with %, so a literal % is doubled.
            ddl = DDL(statement.replace("%", "%%")).execute_if(dialect=dialect)
            event.listen(table, "after_create", ddl)
