"""Extranet tables: user accounts with their role, acknowledged alerts, API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.models import Antenna, Base, _enum
from ledger.timeutil import utc_now


class Role(enum.StrEnum):
    ANTENNA_MANAGER = "antenna_manager"
    CENTRAL_REFERENT = "central_referent"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ANTENNA_MANAGER: "Responsable d'antenne",
    Role.CENTRAL_REFERENT: "Référent central",
    Role.ADMIN: "Administrateur",
}


class User(Base):
    __tablename__ = "extranet_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    #: The only antenna an antenna manager sees; None for the other roles.
    antenna_id: Mapped[int | None] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    #: argon2id hash (argon2-cffi); None for an account that only logs in through SSO.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: Subject of the account at an OpenID Connect provider (reserved, not used yet).
    external_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The password was set by an administrator (or is the first one): the next
    #: login must choose a new one before reaching any page.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Bumped on logout, password change, deactivation, role or antenna change:
    #: every session opened before stops working (``extranet.auth.session``).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    antenna: Mapped[Antenna | None] = relationship()

    __table_args__ = (
        CheckConstraint(
            "role != 'antenna_manager' OR antenna_id IS NOT NULL", name="manager_has_antenna"
        ),
    )

    @property
    def can_write(self) -> bool:
        """Whether the user may correct visits, enter them by hand and attach calls."""
        return self.role in (Role.ANTENNA_MANAGER, Role.ADMIN)

    @property
    def sees_all_antennas(self) -> bool:
        return self.role in (Role.CENTRAL_REFERENT, Role.ADMIN)

    @property
    def can_see_statistics(self) -> bool:
        """Every role: a manager's statistics are their antenna's (``extranet.scope``)."""
        return self.role in (Role.ANTENNA_MANAGER, Role.CENTRAL_REFERENT, Role.ADMIN)

    @property
    def can_see_run_journal(self) -> bool:
        """Exchange files hold every antenna's data: central roles only."""
        return self.role in (Role.CENTRAL_REFERENT, Role.ADMIN)

    @property
    def can_close_months(self) -> bool:
        """Validate a month's pro-forma, close and reopen it: central referents only.

        Not administrators: those who correct visits do not also sign off on
        the figures (docs/decisions/0304-extranet-closing.md).
        """
        return self.role is Role.CENTRAL_REFERENT

    @property
    def can_manage_users(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def can_see_service_status(self) -> bool:
        """The state of every part (Asterisk, database, jobs): administrators."""
        return self.role is Role.ADMIN

    @property
    def sees_service_alerts(self) -> bool:
        """The banner of parts down: those who can act on it or tell who can."""
        return self.role in (Role.CENTRAL_REFERENT, Role.ADMIN)

    @property
    def can_manage_funders(self) -> bool:
        """The funders' identity for the Département's platform: what every file says."""
        return self.role is Role.ADMIN


class ThrottleScope(enum.StrEnum):
    #: The login typed in the form, whether an account has it or not.
    LOGIN = "login"
    #: The client's address (as the proxy reports it when configured).
    ADDRESS = "address"


class LoginThrottle(Base):
    """Failed-login counters, one row per login typed and per client address.

    Rows are keyed by the text typed, not by account, so that an unknown login
    is counted and locked exactly like a known one. Counters only move through
    single UPDATE statements (``extranet.auth.throttle``).
    """

    __tablename__ = "extranet_login_throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(_enum(ThrottleScope, "throttle_scope"))
    #: The login (stripped) or the client address.
    key: Mapped[str] = mapped_column(String(120))
    #: Attempts counted: reserved before the password is checked, forgiven on success.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: Start of the counting window (addresses: counts older than a lockout are dropped).
    window_started_at: Mapped[datetime]
    #: Every attempt is refused until then, the right password included.
    locked_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("scope", "key", name="uq_extranet_login_throttle_scope"),)


class AlertAck(Base):
    """A manager's acknowledgement of an alert that no data change resolves."""

    __tablename__ = "extranet_alert_acks"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: An ``extranet.alerts.AlertKind`` value.
    kind: Mapped[str] = mapped_column(String(40))
    #: The beneficiary or care plan the alert is about.
    object_id: Mapped[int] = mapped_column(Integer)
    antenna_id: Mapped[int | None] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    acked_by: Mapped[str] = mapped_column(String(80))
    acked_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (UniqueConstraint("kind", "object_id", name="uq_extranet_alert_acks_kind"),)


class ApiScope(enum.StrEnum):
    """What an API token may do (``extranet.api``)."""

    #: Visits, people, calls, statistics.
    READ = "read"
    #: Corrections and manual visits, through ``ledger.service`` like the forms.
    WRITE = "write"


class ApiToken(Base):
    """A client system's credential on the REST API, created by an administrator.

    Only the SHA-256 of the secret is kept; the secret is shown once. A token
    restricted to an antenna sees what that antenna's manager sees
    (``extranet.scope``, through ``sees_all_antennas`` and ``antenna_id``).
    """

    __tablename__ = "extranet_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The client system, e.g. "Logiciel de planification".
    name: Mapped[str] = mapped_column(String(60))
    #: Hex SHA-256 of the whole secret ("tg_..."), the lookup key.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The secret's first characters, to tell tokens apart in lists and logs.
    prefix: Mapped[str] = mapped_column(String(12))
    #: Space-separated ``ApiScope`` values, e.g. "read write".
    scopes: Mapped[str] = mapped_column(String(40))
    #: The only antenna the token reaches; None: every antenna.
    antenna_id: Mapped[int | None] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    last_used_at: Mapped[datetime | None]
    #: Fixed-window rate limit: start of the current window and calls counted in it
    #: (changed only by single UPDATE statements, ``extranet.api.auth``).
    window_started_at: Mapped[datetime | None]
    window_calls: Mapped[int] = mapped_column(Integer, default=0)

    antenna: Mapped[Antenna | None] = relationship()

    @property
    def scope_set(self) -> frozenset[ApiScope]:
        return frozenset(ApiScope(s) for s in self.scopes.split() if s in set(ApiScope))

    def allows(self, scope: ApiScope) -> bool:
        return scope in self.scope_set

    @property
    def sees_all_antennas(self) -> bool:
        return self.antenna_id is None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> str:
        """The author written in versions and the audit journal."""
        return f"api:{self.name}#{self.id}"[:80]
