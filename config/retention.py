"""Limited retention of personal data (the CNIL's rule): each kind has a period,
and the daily job ``retention.purge`` removes or anonymises what is past it.

It lives at the composition root because it reaches three packages' data: the
ledger's phones, the extranet's accounts and the flows' files. Every run is in
the run journal with what it removed, per kind.

What it never touches:
- the ten-year archive (``<data_dir>/archive``: signed statements, their
  journal): kept for its own period by ``archive`` (``[archive] retention_years``);
- what an **open dispute** needs. A dispute is open, in this model, while the
  month of a fact is not closed (``ledger.closing``: corrections, attachments
  and manual entries are still possible, a late file can still change it): an
  ended phone number is kept while a call from it falls in a month not closed
  (a manager may still attach that call to a visit). A closed month was checked
  and signed off; reopening one is the dispute procedure, and its facts past
  their period stay in the archive's statements.
- the append-only tables (``call_events``: raw calls and caller numbers,
  ``audit_journal``): their triggers refuse any update or delete
  (``ledger.immutability``), so the job only counts what is past its period and
  says so in the journal; anonymising them needs a controlled exception in the
  triggers, not made yet (docs/architecture.md, "Retention").
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from extranet.models import User
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.settings import SettingsError, load_section
from ledger.models import AuditEntry, CallEvent, MonthClosure, Phone
from ledger.timeutil import PARIS, as_utc, to_paris, utc_now

logger = logging.getLogger(__name__)

#: Folders of flow files under the data directory, each holding one folder per day.
FLOW_FOLDERS = ("flows/inbox", "flows/rejects", "flows/outbox")


@dataclasses.dataclass(frozen=True)
class RetentionSettings:
    """The ``[retention]`` section: days each kind of personal data is kept."""

    #: Raw calls and their caller numbers (``call_events``), from the call.
    call_days: int = 365
    #: A beneficiary's phone number, from the day it ended (``phones.active_until``).
    phone_ended_days: int = 365
    #: An extranet account deactivated, from its last login (or its creation).
    leaver_account_days: int = 365
    #: The audit journal, from the entry (the City's rules ask for five years).
    audit_days: int = 1826
    #: Flow files received, rejected and sent, from their day.
    flow_file_days: int = 400

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 30:
                raise SettingsError(f"retention.{field.name}: at least 30 days expected")


def load() -> RetentionSettings:
    return load_section(RetentionSettings, "retention")


def _in_open_month(moment: datetime, closed: set[tuple[int, int]]) -> bool:
    paris = to_paris(as_utc(moment))
    return (paris.year, paris.month) not in closed


def purge_ended_phones(session: Session, settings: RetentionSettings, today: date) -> int:
    """Delete phone numbers ended more than ``phone_ended_days`` ago, unless a call
    from the number falls in a month not closed (an open dispute)."""
    limit = today - timedelta(days=settings.phone_ended_days)
    closed = {(r.year, r.month) for r in session.scalars(select(MonthClosure)) if r.closed}
    removed = 0
    for phone in session.scalars(select(Phone).where(Phone.active_until < limit)).all():
        calls = session.scalars(
            select(CallEvent.received_at).where(CallEvent.caller_e164 == phone.e164)
        ).all()
        if any(_in_open_month(at, closed) for at in calls):
            continue
        session.delete(phone)
        removed += 1
    return removed


def anonymise_leavers(session: Session, settings: RetentionSettings, now: datetime) -> int:
    """Anonymise accounts deactivated whose last login is past ``leaver_account_days``.

    The row stays (the journal's entries keep their actor's login, which the
    audit period governs); its name, login, password and SSO subject go.
    """
    limit = now - timedelta(days=settings.leaver_account_days)
    rows = session.scalars(
        select(User).where(
            User.active.is_(False),
            ~User.login.startswith("ancien-compte-"),
            or_(
                User.last_login_at < limit,
                and_(User.last_login_at.is_(None), User.created_at < limit),
            ),
        )
    ).all()
    for user in rows:
        user.login = f"ancien-compte-{user.id}"
        user.name = "Compte anonymisé"
        user.password_hash = None
        user.external_subject = None
        user.session_epoch += 1
    return len(rows)


def purge_flow_files(data_dir: Path, settings: RetentionSettings, today: date) -> int:
    """Remove day folders of flow files older than ``flow_file_days``; never the archive."""
    limit = today - timedelta(days=settings.flow_file_days)
    removed = 0
    for folder in FLOW_FOLDERS:
        root = data_dir / folder
        if not root.is_dir():
            continue
        for day_dir in root.iterdir():
            try:
                day = date.fromisoformat(day_dir.name)
            except ValueError:
                continue  # not a day folder: not ours to judge
            if day < limit and day_dir.is_dir():
                removed += sum(1 for p in day_dir.rglob("*") if p.is_file())
                shutil.rmtree(day_dir)
    return removed


def past_period_append_only(
    session: Session, settings: RetentionSettings, now: datetime
) -> dict[str, int]:
    """Rows of the append-only tables past their period (counted, not touched)."""
    calls = session.scalar(
        select(func.count())
        .select_from(CallEvent)
        .where(CallEvent.received_at < now - timedelta(days=settings.call_days))
    )
    audit = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.at < now - timedelta(days=settings.audit_days))
    )
    return {"appels_a_anonymiser": int(calls or 0), "journal_a_purger": int(audit or 0)}


def run_purge(ctx: JobContext, settings: RetentionSettings | None = None) -> JobResult:
    settings = settings or load()
    now = as_utc(datetime.fromisoformat(ctx.params["now"])) if "now" in ctx.params else utc_now()
    today = now.astimezone(PARIS).date()
    with ctx.session_factory() as session, session.begin():
        phones = purge_ended_phones(session, settings, today)
        accounts = anonymise_leavers(session, settings, now)
        waiting = past_period_append_only(session, settings, now)
    files = purge_flow_files(ctx.data_dir, settings, today)
    counts = {
        "telephones_supprimes": phones,
        "comptes_anonymises": accounts,
        "fichiers_flux_supprimes": files,
        **waiting,
    }
    message = (
        f"{phones} numéro(s) terminé(s) supprimé(s), {accounts} compte(s) anonymisé(s), "
        f"{files} fichier(s) de flux supprimé(s)"
    )
    if any(waiting.values()):
        message += (
            f" ; en attente (tables en ajout seul) : {waiting['appels_a_anonymiser']} appel(s), "
            f"{waiting['journal_a_purger']} entrée(s) du journal"
        )
    logger.info("retention: %s", counts)
    return JobResult(RunStatus.SUCCESS, counts, (), message)


def jobs() -> list[ScheduledJob]:
    return [
        ScheduledJob(
            "retention.purge",
            "Durées de conservation des données personnelles",
            {"hour": "3", "minute": "0"},
            run_purge,
        )
    ]
