"""Engine and session factory: SQLite (embedded default) or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ledger import immutability
from ledger.models import AuditEntry, Base, CallEvent, VisitVersion

for _name in immutability.APPEND_ONLY_TABLES:
    immutability.install(Base.metadata.tables[_name])


class ImmutableRecordError(Exception):
    """Raised when code tries to change or delete an append-only record."""


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'telegestion.sqlite3'}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed call event survives a power cut (the IVR's promise).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # The session's zone is named "UTC" whatever the server's default: psycopg then
    # gives every timestamp with ``datetime.UTC`` itself, which ``as_utc`` passes
    # through. A server set to "Etc/UTC" (initdb's default on Debian) gave a
    # ZoneInfo, and each timestamp read was rebuilt (a month's allocation of one
    # antenna: 60,000 ``replace`` calls); a server set to another zone would also
    # change what SQL makes of a timestamp's date.
    # No JIT compilation: our queries are short (a page, a year's sums), and the server
    # compiles again at every execution of one whose cost passes its thresholds. A year's
    # correction rate (issue 14) spent 250 ms of its 1.2 s compiling, for no gain in
    # execution; no state or page was slower without it (docs/architecture/extranet.md).
    connect_args = {"options": "-c TimeZone=UTC -c jit=off", **kwargs.pop("connect_args", {})}
    return create_engine(url, connect_args=connect_args, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    return factory


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_append_only(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, CallEvent | VisitVersion | AuditEntry) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            raise ImmutableRecordError(f"{type(obj).__name__} {obj.id} is append-only")
