"""Alembic migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from config.database import create_schema, downgrade, import_all_models, migrate
from ledger.db import make_engine
from ledger.facts import forget_cached_months, month_billing
from ledger.models import Base, CallOutcome, Identification
from ledger.service import CallRecord, record_call
from ledger.timeutil import utc_now
from tests import factories
from tests.conftest import PG_URL
from tests.ledger import test_figures


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS telegestion_migrations"))
        conn.execute(text("CREATE DATABASE telegestion_migrations"))
    admin.dispose()
    yield (
        make_url(PG_URL)
        .set(database="telegestion_migrations")
        .render_as_string(hide_password=False)
    )


def test_migrated_schema_matches_models(empty_database_url: str) -> None:
    migrate(empty_database_url)
    import_all_models()
    engine = make_engine(empty_database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_removes_everything(empty_database_url: str) -> None:
    migrate(empty_database_url)
    downgrade(empty_database_url, "base")
    engine = make_engine(empty_database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_migrated_database_keeps_raw_events_append_only(empty_database_url: str) -> None:
    migrate(empty_database_url)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        record_call(
            session,
            CallRecord(
                channel_id="c1",
                received_at=utc_now(),
                answered_at=utc_now(),
                caller_raw=None,
                ani_raw=None,
                called_number=None,
                digits=None,
                code_completed_at=None,
                beneficiary_id=None,
                worker_id=None,
                identification=Identification.WITHHELD_NUMBER,
                direction=None,
                outcome=CallOutcome.HANGUP_BEFORE_CODE,
            ),
        )
        session.commit()
    for statement in ("DELETE FROM call_events", "UPDATE call_events SET digits = '1'"):
        with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement))
    engine.dispose()


def test_figure_totals_migration_sums_the_months_already_closed(
    empty_database_url: str,
) -> None:
    # The month is closed with the migration before it applied (visit rows, no sums).
    forget_cached_months()
    migrate(empty_database_url)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        org = factories.small_org(session)
        test_figures.october(session, org)
        _facts, live = month_billing(session, test_figures.OCTOBER, {})
        factories.close_month(session, test_figures.OCTOBER)
    downgrade(empty_database_url, "20261206_ledger_month_figures")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM month_visit_figures")) == 10
    migrate(empty_database_url)
    with Session(engine) as session:
        assert test_figures.kept_pairs(session) == test_figures.expected_pairs(live)
        assert test_figures.kept_shares(session) == test_figures.expected_shares(live)
    engine.dispose()


def _index_definitions(url: str) -> dict[str, str]:
    """Every index's definition as the database itself prints it, where clause included.

    ``compare_metadata`` compares indexes by name and columns only: a partial
    index migrated without its ``WHERE`` (or the other way round) would pass it.
    """
    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
            )
        else:
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            )
        found = {name: " ".join(str(sql).split()) for name, sql in rows}
    engine.dispose()
    return {name: sql for name, sql in found.items() if not name.startswith("alembic")}


def test_migrated_indexes_are_defined_as_the_models_say(
    empty_database_url: str, tmp_path: Path
) -> None:
    migrate(empty_database_url)
    migrated = _index_definitions(empty_database_url)
    if PG_URL:
        # The models' schema, created directly in the same database once the
        # migrated one is read and dropped.
        engine = make_engine(empty_database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        created_url = empty_database_url
    else:
        created_url = f"sqlite:///{tmp_path / 'created.sqlite3'}"
    engine = make_engine(created_url)
    create_schema(engine)
    engine.dispose()
    created = _index_definitions(created_url)
    assert migrated == created
    moved = migrated["ix_visit_versions_moved_from_worker_id"]
    assert "WHERE moved_from_worker_id IS NOT NULL" in moved.replace("(", "").replace(")", "")
