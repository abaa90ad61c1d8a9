"""One active scheduler at a time, and its heartbeat.

Two scheduler processes may run (two machines, or a restart that overlaps the
old process): only the one holding the lock starts APScheduler; the other
stands by and tries again every few seconds, so it takes over when the first
dies. The lock is one the operating system or the database releases by itself
when its holder dies, so that no stale lease has to expire:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a
  connection kept open for the purpose; the server drops it with the session.
- SQLite (one machine by nature): an exclusive ``flock`` on
  ``<data_dir>/scheduler.lock``; the kernel drops it with the process.

Each process writes a heartbeat row (``kernel_heartbeats``) every round, with
its role; the watchdog reads the active one's to know the scheduler is alive.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, DateTime, Engine, String, delete, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ledger.models import Base
from ledger.timeutil import utc_now

logger = logging.getLogger(__name__)

#: The advisory lock's key (any constant of the application: "TLGS" in ASCII).
ADVISORY_KEY = 0x544C4753

ACTIVE = "active"
STANDBY = "standby"


class Heartbeat(Base):
    """A scheduler process's last sign of life."""

    __tablename__ = "kernel_heartbeats"

    #: "<host>:<pid>" of the process.
    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: "active" (holds the lock and runs the jobs) or "standby".
    role: Mapped[str] = mapped_column(String(16))
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """The lock of the active scheduler (see the module's docstring)."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.lock_path = data_dir / "scheduler.lock"
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._try_advisory()
        return self._try_flock()

    def _try_advisory(self) -> bool:
        try:
            connection = self.engine.connect()
        except SQLAlchemyError:
            logger.warning("scheduler lock: database unavailable")
            return False
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            # Out of any transaction: the lock belongs to the session, not to a
            # transaction a rollback would end.
            connection.commit()
        except SQLAlchemyError:
            connection.close()
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _try_flock(self) -> bool:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(holder_name().encode())
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        """False when the lock's connection was lost (the server may have given it away)."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
            except SQLAlchemyError:
                pass
            self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def beat(
    session_factory: sessionmaker[Session], holder: str, role: str, started_at: datetime
) -> None:
    """Write this process's heartbeat; forget processes silent for a day."""
    now = utc_now()
    try:
        with session_factory() as session, session.begin():
            row = session.get(Heartbeat, holder)
            if row is None:
                session.add(Heartbeat(holder=holder, role=role, beat_at=now, started_at=started_at))
            else:
                row.role, row.beat_at = role, now
            session.execute(delete(Heartbeat).where(Heartbeat.beat_at < now - timedelta(days=1)))
    except SQLAlchemyError:
        logger.warning("scheduler heartbeat not written (database unavailable)")


def active_heartbeat(session: Session) -> Heartbeat | None:
    """The newest heartbeat of an active scheduler, if any."""
    return session.scalars(
        select(Heartbeat).where(Heartbeat.role == ACTIVE).order_by(Heartbeat.beat_at.desc())
    ).first()
