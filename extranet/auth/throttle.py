"""Login throttling with atomic counters in the database.

Every login attempt first *reserves* itself on two counters, the login typed
and the client address, each with one ``UPDATE ... SET failures = failures + 1
... RETURNING`` committed at once, before the password is checked. The UPDATE
only matches a row that is not locked, and locks it in the same statement when
the new count reaches the limit. So however many attempts arrive together,
across threads and gunicorn workers, at most ``max_failures`` of them per login
are ever checked: the database serialises the increments (a row lock on
PostgreSQL, the write lock on SQLite), and no attempt reads a count that
another is about to change.

A success forgives the attempt: the login's row is deleted, the address's
count goes down by one. The login row is keyed by the text typed, so an
unknown login is counted, locked and answered like a known one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, case, delete, false, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from extranet.models import LoginThrottle, ThrottleScope
from ledger.timeutil import as_utc

logger = logging.getLogger(__name__)

#: Rows untouched for this long are dropped (an old mistyped password is forgotten).
FORGET_AFTER = timedelta(days=1)
KEY_LENGTH = 120


@dataclass(frozen=True)
class Limit:
    max_failures: int
    lockout: timedelta
    #: Whether counts older than ``lockout`` are dropped (addresses), or kept
    #: until a success or an administrator lifts them (logins).
    windowed: bool


@dataclass(frozen=True)
class Reservation:
    """An attempt counted on both keys; ``failures`` is the login's count after it."""

    login: str
    address: str
    failures: int


@dataclass(frozen=True)
class Lock:
    scope: ThrottleScope
    key: str
    failures: int
    locked_until: datetime


def _key(text: str) -> str:
    return text.strip()[:KEY_LENGTH]


@dataclass(frozen=True)
class Throttle:
    session_factory: sessionmaker[Session]
    per_login: Limit
    per_address: Limit

    def reserve(self, login: str, address: str, now: datetime) -> Reservation | None:
        """Count one attempt on the address and on the login; None if either is locked.

        Committed in its own short transaction before the password is checked.
        The address comes first: a blocked address no longer moves (nor keeps
        locked) the counters of the logins it tries.
        """
        login, address = _key(login), _key(address)
        with self.session_factory.begin() as session:
            if self._count(session, ThrottleScope.ADDRESS, address, self.per_address, now) is None:
                return None
        with self.session_factory.begin() as session:
            failures = self._count(session, ThrottleScope.LOGIN, login, self.per_login, now)
        if failures is None:
            return None
        return Reservation(login, address, failures)

    def succeeded(self, session: Session, reservation: Reservation) -> None:
        """Forgive a successful attempt (in the caller's transaction)."""
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.scope == ThrottleScope.LOGIN,
                LoginThrottle.key == reservation.login,
            )
        )
        session.execute(
            update(LoginThrottle)
            .where(
                LoginThrottle.scope == ThrottleScope.ADDRESS,
                LoginThrottle.key == reservation.address,
                LoginThrottle.failures > 0,
            )
            .values(failures=LoginThrottle.failures - 1)
        )

    def locked_out(self, reservation: Reservation) -> bool:
        """Whether this (wrong) attempt was the one that locked the login."""
        return reservation.failures >= self.per_login.max_failures

    def locks(self, session: Session, now: datetime) -> list[Lock]:
        """Logins and addresses refused right now, for the administrators' page."""
        rows = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.locked_until > now)
            .order_by(LoginThrottle.scope, LoginThrottle.key)
        ).all()
        return [
            Lock(row.scope, row.key, row.failures, as_utc(row.locked_until))
            for row in rows
            if row.locked_until is not None
        ]

    def lift(self, session: Session, scope: ThrottleScope, key: str) -> bool:
        """Lift a lock (an administrator's act); True if there was a row."""
        result = session.execute(
            delete(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        )
        return bool(getattr(result, "rowcount", 0))

    def _count(
        self, session: Session, scope: ThrottleScope, key: str, limit: Limit, now: datetime
    ) -> int | None:
        table = cast(Table, LoginThrottle.__table__)
        session.execute(
            delete(LoginThrottle).where(LoginThrottle.last_attempt_at < now - FORGET_AFTER)
        )
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(table)
            .values(
                scope=scope.value,
                key=key,
                failures=0,
                window_started_at=now,
                locked_until=None,
                last_attempt_at=now,
            )
            .on_conflict_do_nothing(index_elements=["scope", "key"])
        )
        column = table.c
        when = column.locked_until.type
        # Window over: this attempt starts a new count (addresses only).
        stale = (
            column.window_started_at <= literal(now - limit.lockout, when)
            if limit.windowed
            else false()
        )
        failures = case((stale, 1), else_=column.failures + 1)
        found = session.execute(
            update(table)
            .where(
                column.scope == scope.value,
                column.key == key,
                or_(column.locked_until.is_(None), column.locked_until <= literal(now, when)),
            )
            .values(
                failures=failures,
                window_started_at=case((stale, literal(now, when)), else_=column.window_started_at),
                locked_until=case(
                    (failures >= limit.max_failures, literal(now + limit.lockout, when)),
                    else_=None,
                ),
                last_attempt_at=now,
            )
            .returning(column.failures)
        ).scalar()
        if found is None:
            logger.info("login attempt refused: %s locked", scope.value)
            return None
        return int(found)
