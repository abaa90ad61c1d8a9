"""Shared fixtures: a database per test, SQLite by default or PostgreSQL.

Set TELEGESTION_TEST_DATABASE_URL to a PostgreSQL URL to run the whole suite
against it (``scripts/test`` does both). With TELEGESTION_TEST_DATABASE_ONLY=1
as well, only the tests that reach a database run: ``scripts/test`` sets it for
its PostgreSQL half, since the others (pure rules, parsers, PDFs...) ran
unchanged in the SQLite half just before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from config.database import create_schema, import_all_models
from ledger.db import make_engine, make_session_factory
from ledger.facts import forget_cached_months
from ledger.models import Base
from tests import factories
from tests.mailbox import mailbox  # noqa: F401 - the real SMTP server fixture

PG_URL = os.environ.get("TELEGESTION_TEST_DATABASE_URL", "")
DATABASE_ONLY = os.environ.get("TELEGESTION_TEST_DATABASE_ONLY", "") == "1"
#: The fixtures through which a test reaches the database under test.
DATABASE_FIXTURES = frozenset({"_pg_engine", "empty_database_url"})


def reaches_database(item: pytest.Item) -> bool:
    """Whether a test can reach the database: through a fixture, or a module that
    reads the PostgreSQL URL itself (``PG_URL``, ``tests.config.fresh``)."""
    if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return any(hasattr(module, name) for name in ("PG_URL", "fresh_database"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (PG_URL and DATABASE_ONLY):
        return
    keep = [item for item in items if reaches_database(item)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if not reaches_database(i)])
        items[:] = keep


@pytest.fixture(scope="session")
def _pg_engine() -> Iterator[Engine | None]:
    if not PG_URL:
        yield None
        return
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _pg_engine: Engine | None) -> str:
    if _pg_engine is not None:
        return PG_URL
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def engine(database_url: str, _pg_engine: Engine | None) -> Iterator[Engine]:
    if _pg_engine is not None:
        import_all_models()
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with _pg_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # The ids start again, which a real database never does: a month the last test
        # read would come back with the same ids and versions, so ledger.facts' cache
        # (keyed by a marker of ids, versions and times) must start empty too.
        forget_cached_months()
        yield _pg_engine
        return
    eng = make_engine(database_url)
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def org(session: Session) -> factories.SmallOrg:
    return factories.small_org(session)
