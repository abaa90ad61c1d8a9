"""Alerts: the state of each watched part, and one e-mail per change of state.

The watchdog (``config.watchdog``) runs its checks every minute and hands the
results to ``Alerter.observe``. A check that goes down sends one mail; while it
stays down nothing more is sent until ``reminder_minutes`` have passed (one
reminder, then one per period); when it comes back up, one recovery mail. All
the changes seen in one round go in one mail, so that Asterisk stopping (which
also takes the ARI connection and the calls down) is one message, not three.

The states live in ``kernel_check_states`` so that the extranet shows a banner
and a status page from them, and so that a restarted watchdog does not send
again what it already sent. The database may be the part that is down: the
alerter keeps its states in memory as well and sends from them.
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import Boolean, DateTime, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kernel.settings import SettingsError, environ, load_section
from ledger.models import Base
from ledger.timeutil import as_utc, to_paris, utc_now

logger = logging.getLogger(__name__)

PASSWORD_ENV = "TELEGESTION_ALERTS_SMTP_PASSWORD"  # noqa: S105 - a variable name


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """The ``[alerts]`` section; the SMTP password only from the environment."""

    #: Who is told, comma separated; empty: nobody is mailed (the banner still shows).
    recipients: str = ""
    sender: str = "telegestion@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    #: Login on the SMTP server; empty: no authentication.
    smtp_user: str = ""
    #: "starttls", "ssl" or "none".
    smtp_security: str = "starttls"
    smtp_timeout: float = 20.0
    #: A part still down after this long is mailed about again (0: never).
    reminder_minutes: int = 240
    #: Seconds between two rounds of checks.
    interval_seconds: float = 60.0
    #: Free space of the archive store below which it is an incident.
    disk_min_free_percent: float = 10.0
    #: A job whose next run is this late (and has not started) is overdue.
    job_grace_minutes: int = 30
    #: The scheduler is taken for dead when its heartbeat is older than this.
    heartbeat_max_seconds: int = 180
    #: Spool lines still waiting after this long mean the replay is stuck.
    spool_max_minutes: int = 10
    #: No call reaching the application for this long, within service hours, is an
    #: incident (0 disables the check).
    calls_silence_minutes: int = 180
    #: Service hours (Europe/Paris, start inclusive, end exclusive) for that check.
    calls_hours: str = "08-20"

    def __post_init__(self) -> None:
        if self.smtp_security not in ("starttls", "ssl", "none"):
            raise SettingsError(
                f"alerts.smtp_security: expected starttls, ssl or none, got {self.smtp_security!r}"
            )
        if self.reminder_minutes < 0 or self.interval_seconds <= 0:
            raise SettingsError("alerts: reminder_minutes >= 0 and interval_seconds > 0 expected")
        self.service_hours()

    @property
    def addresses(self) -> list[str]:
        return [a.strip() for a in self.recipients.split(",") if a.strip()]

    def service_hours(self) -> tuple[int, int]:
        start, sep, end = self.calls_hours.partition("-")
        try:
            first, last = int(start), int(end)
        except ValueError:
            first = last = -1
        if not sep or not 0 <= first < last <= 24:
            raise SettingsError(
                f"alerts.calls_hours: expected HH-HH (e.g. 08-20), got {self.calls_hours!r}"
            )
        return first, last

    def smtp_password(self) -> str:
        return environ().get(PASSWORD_ENV, "")


def load() -> AlertSettings:
    return load_section(AlertSettings, "alerts")


class CheckState(Base):
    """The last known state of one watched part (one row per check)."""

    __tablename__ = "kernel_check_states"

    #: Stable name, e.g. "asterisk", "job:flows.daily_import", "process:ivr".
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    #: French label shown on the status page.
    label: Mapped[str] = mapped_column(String(200))
    ok: Mapped[bool] = mapped_column(Boolean)
    #: When the part entered its current state (down since, up since).
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: French detail of the last check (the error, the number of rejects...).
    detail: Mapped[str] = mapped_column(Text, default="")
    #: Last mail about the current incident (None while up, or nobody to mail).
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    label: str
    ok: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Change:
    """What one round tells people: a part went down, came back, or is still down."""

    kind: str  # "down", "up", "reminder"
    result: CheckResult
    since: datetime


KIND_LABELS = {"down": "EN PANNE", "up": "RÉTABLI", "reminder": "TOUJOURS EN PANNE"}


class Mailer:
    """Sends one message over SMTP (smtplib) with the ``[alerts]`` settings."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings

    def send(self, subject: str, body: str) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = ", ".join(s.addresses)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="telegestion")
        message.set_content(body)
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host,
                s.smtp_port,
                timeout=s.smtp_timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password())
            smtp.send_message(message)


def compose(organisation: str, changes: Sequence[Change]) -> tuple[str, str]:
    """The French subject and body of one mail about one round's changes."""
    down = [c for c in changes if c.kind != "up"]
    if down:
        subject = f"[Télégestion {organisation}] Alerte : " + ", ".join(
            c.result.label for c in down
        )
    else:
        subject = f"[Télégestion {organisation}] Rétabli : " + ", ".join(
            c.result.label for c in changes
        )
    lines = [f"Surveillance de la télégestion — {organisation}", ""]
    for change in changes:
        since = to_paris(change.since)
        lines.append(f"{KIND_LABELS[change.kind]} — {change.result.label}")
        verb = "rétabli depuis" if change.kind == "up" else "en panne depuis"
        lines.append(f"  {verb} le {since:%d/%m/%Y à %H:%M} (heure de Paris)")
        if change.result.detail:
            lines.append(f"  {change.result.detail}")
        lines.append("")
    lines.append("L'état de chaque élément : page « État du service » de l'extranet.")
    return subject[:250], "\n".join(lines) + "\n"


@dataclasses.dataclass
class _Known:
    label: str
    ok: bool
    since: datetime
    detail: str
    notified_at: datetime | None


class Alerter:
    """Turns rounds of check results into state rows and mails (one per incident)."""

    def __init__(
        self,
        settings: AlertSettings,
        session_factory: sessionmaker[Session],
        organisation: str,
        *,
        send: Callable[[str, str], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.organisation = organisation
        self.send = send or Mailer(settings).send
        self.clock = clock
        self.known: dict[str, _Known] = {}
        self._loaded = False

    def _load(self) -> None:
        """The states a previous watchdog left, so that a restart mails nothing twice."""
        if self._loaded:
            return
        try:
            with self.session_factory() as session:
                for row in session.scalars(select(CheckState)):
                    self.known.setdefault(
                        row.name,
                        _Known(
                            row.label,
                            row.ok,
                            as_utc(row.since),
                            row.detail,
                            as_utc(row.notified_at) if row.notified_at else None,
                        ),
                    )
        except SQLAlchemyError:
            logger.warning("check states not read (database unavailable)")
            return
        self._loaded = True

    def observe(self, results: Iterable[CheckResult]) -> list[Change]:
        """Record one round; mail what changed. Returns the changes told."""
        self._load()
        now = self.clock()
        reminder = timedelta(minutes=self.settings.reminder_minutes)
        changes: list[Change] = []
        observed: list[str] = []
        for result in results:
            observed.append(result.name)
            known = self.known.get(result.name)
            if known is None:
                known = _Known(result.label, True, now, "", None)
                self.known[result.name] = known
            if known.ok != result.ok:
                known.ok, known.since, known.notified_at = result.ok, now, None
                changes.append(Change("up" if result.ok else "down", result, now))
            elif (
                not result.ok
                and reminder
                and known.notified_at is not None
                and now - known.notified_at >= reminder
            ):
                changes.append(Change("reminder", result, known.since))
            elif not result.ok and known.notified_at is None and self.settings.addresses:
                # Down, but never told (the mail failed, or the state came from a
                # process that could not mail): tell now.
                changes.append(Change("down", result, known.since))
            known.label, known.detail = result.label, result.detail
        if changes and self.settings.addresses:
            subject, body = compose(self.organisation, changes)
            try:
                self.send(subject, body)
            except (OSError, smtplib.SMTPException):
                logger.exception("alert mail not sent (%s)", subject)
            else:
                logger.info("alert mail sent: %s", subject)
                for change in changes:
                    if change.kind != "up":
                        self.known[change.result.name].notified_at = now
        self._save(now, observed)
        return changes

    def _save(self, now: datetime, names: list[str]) -> None:
        # Only the parts observed this round: another process (the supervisor)
        # writes its own rows, which this one must not overwrite from memory.
        try:
            with self.session_factory() as session, session.begin():
                rows = {row.name: row for row in session.scalars(select(CheckState))}
                for name in names:
                    known = self.known[name]
                    row = rows.get(name)
                    if row is None:
                        row = CheckState(name=name)
                        session.add(row)
                    row.label, row.ok, row.since = known.label, known.ok, known.since
                    row.detail, row.notified_at, row.checked_at = (
                        known.detail,
                        known.notified_at,
                        now,
                    )
        except SQLAlchemyError:
            logger.warning("check states not written (database unavailable)")


def states(session: Session) -> list[CheckState]:
    """Every watched part, the ones down first (the banner and the status page)."""
    rows = session.scalars(select(CheckState)).all()
    return sorted(rows, key=lambda r: (r.ok, r.name))
