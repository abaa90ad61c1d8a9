"""What billing does: compute a month, write the pre-billing, send and follow the DELIVERY files.

Each entry point (CLI, scheduled job) passes a session factory, the data
directory, the settings and a channel; results come back as
``kernel.jobs.JobResult`` so that the run journal shows them.

The send path (``send_month``) in order: complete the files journalled by an
earlier run that did not leave; compute the month and what changed since the
last send (``ledger.declarations``); write and validate the files (all or
nothing); journal them and their declarations in one transaction; upload each
and mark it sent. A crash or a failed upload at any point leaves files that
the next run completes, and nothing is declared twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export.ack import ACK_SUFFIX, AckError, AckStatus, parse_ack
from billing_export.adapter import MonthFacts, Parties, load_month
from billing_export.esppadom import (
    SchemaError,
    file_name,
    local_iso,
    write_delivery,
)
from billing_export.models import OutboxFile, OutboxStatus
from billing_export.settings import BillingSettings
from kernel.files import atomic_writer, sha256_file
from kernel.jobs import JobResult, RunStatus
from kernel.transport import Transport, TransportError
from ledger import declarations
from ledger.declarations import Change, ChangeKind, HeldBack, MonthDeclarations
from ledger.facts import month_billing
from ledger.funders import FunderIdentity
from ledger.models import Funder
from ledger.money import MonthBilling, format_hours
from ledger.service import audit
from ledger.spreadsheet import SafeWriter
from ledger.timeutil import Month, to_paris, utc_now

logger = logging.getLogger(__name__)

ACTOR = "system:billing"


class BillingError(Exception):
    """A request billing refuses; the message is safe to show (French)."""


def parse_month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError:
        raise BillingError(
            f"mois invalide : {text!r} (attendu AAAA-MM, par exemple 2026-10)"
        ) from None


def previous_month(today: date) -> Month:
    return Month.of(today).previous()


def billing_dir(data_dir: Path) -> Path:
    return data_dir / "billing"


def compute(
    session: Session, month: Month, settings: BillingSettings
) -> tuple[MonthFacts, MonthBilling]:
    facts = load_month(session, month)
    # The month's one allocation for these rules (``ledger.facts`` keeps it while the
    # month does not change: the closing pages and the other outputs made it already).
    return facts, month_billing(session, month, dict(settings.rounding_rules))[1]


# --- pre-billing files -----------------------------------------------------

SUMMARY_HEADER = (
    "mois",
    "beneficiaire",
    "financeur",
    "plan",
    "prestation",
    "intervenant",
    "categorie",
    "interventions",
    "minutes_retenues",
    "heures_retenues",
)
DETAIL_HEADER = (
    "mois",
    "intervention",
    "beneficiaire",
    "intervenant",
    "financeur",
    "plan",
    "categorie",
    "code_ajustement",
    "horodatage_debut",
    "horodatage_fin",
    "enregistre_debut",
    "enregistre_fin",
    "retenu_debut",
    "retenu_fin",
    "minutes_retenues",
)


def write_prebilling(
    facts: MonthFacts,
    billing: MonthBilling,
    folder: Path,
    *,
    revision: int = 1,
    prefix: str = "prebilling",
) -> tuple[Path, Path]:
    """Write the summary (by beneficiary, funder, worker) and the per-share detail CSV.

    Revision N > 1 of a closed month (after a reopen and a new close) gets
    files of its own (``prebilling-AAAA-MM-vN.csv``): revision 1's stay as
    they were sent. ``prefix`` "proforma" names a provisional run on a month
    not closed yet.
    """
    folder.mkdir(parents=True, exist_ok=True)
    label = f"{billing.year:04d}-{billing.month:02d}"
    stem = f"{prefix}-{label}" + (f"-v{revision}" if revision > 1 else "")
    refs = {p.plan_id: p.reference for p in facts.plans}
    summary = folder / f"{stem}.csv"
    with open(summary, "w", newline="", encoding="utf-8") as handle:
        writer = SafeWriter(handle)
        writer.writerow(SUMMARY_HEADER)
        for line in billing.lines:
            key = line.key
            writer.writerow(
                (
                    label,
                    facts.beneficiary_refs.get(key.beneficiary_id, key.beneficiary_id),
                    key.funder_code,
                    refs.get(key.plan_id, "") if key.plan_id else "",
                    key.service_code,
                    facts.worker_refs.get(key.worker_id, key.worker_id),
                    key.category.value,
                    line.visits,
                    line.kept_minutes,
                    f"{line.kept_minutes / 60:.2f}",
                )
            )
    detail = folder / f"{stem}-detail.csv"
    with open(detail, "w", newline="", encoding="utf-8") as handle:
        writer = SafeWriter(handle)
        writer.writerow(DETAIL_HEADER)
        for vb in billing.visits:
            visit = vb.visit
            for share in vb.shares:
                writer.writerow(
                    (
                        label,
                        visit.visit_id,
                        facts.beneficiary_refs.get(visit.beneficiary_id, ""),
                        facts.worker_refs.get(visit.worker_id, visit.worker_id),
                        share.plan.funder_code if share.plan else "",
                        share.plan.reference if share.plan else "",
                        share.category.value,
                        visit.adjustment,
                        local_iso(visit.clocked_start) if visit.clocked_start else "",
                        local_iso(visit.clocked_end) if visit.clocked_end else "",
                        local_iso(vb.recorded.start),
                        local_iso(vb.recorded.end),
                        local_iso(share.kept.start),
                        local_iso(share.kept.end),
                        share.minutes,
                    )
                )
    return summary, detail


# --- teletransmission ------------------------------------------------------


def departement_funders(facts: MonthFacts, only: str | None = None) -> list[str]:
    codes = sorted(c for c, f in facts.funders.items() if f.departement)
    if only is None:
        return codes
    if only not in facts.funders:
        raise BillingError(f"financeur inconnu : {only}")
    if only not in codes:
        raise BillingError(f"{only} n'est pas un financeur départemental (APA, ASL, PCH)")
    return [only]


@dataclass(frozen=True)
class SendPlan:
    """What one send of a month will carry, per funder, and what it cannot carry."""

    month: Month
    declarations: MonthDeclarations
    #: Funders with something to declare and a complete identity: their declarations.
    files: dict[str, list[Change]]
    #: Funders whose file cannot leave, with why (French); their declarations wait.
    blocked: dict[str, tuple[str, ...]]
    resend: bool

    @property
    def held_back(self) -> tuple[HeldBack, ...]:
        return self.declarations.held_back


def plan_send(
    session: Session,
    facts: MonthFacts,
    billing: MonthBilling,
    *,
    only_funder: str | None = None,
    resend: bool = False,
) -> SendPlan:
    """Decide what to send: what changed since the last send (all, same ids, on a re-send)."""
    codes = departement_funders(facts, only_funder)
    month = facts.month
    found = declarations.compare(
        session, month, billing, funder_codes=codes, include_unchanged=resend
    )
    files: dict[str, list[Change]] = {}
    blocked: dict[str, tuple[str, ...]] = {}
    for code in codes:
        funder = facts.funders[code]
        changes = found.for_funder(code)
        holds = any(
            h.line.funder_code == code and h.reason is declarations.HoldReason.FUNDER_IDENTITY
            for h in found.held_back
        )
        if funder.missing:
            if changes or holds:
                blocked[code] = funder.missing
            continue
        if changes:
            files[code] = changes
    return SendPlan(month, found, files, blocked, resend)


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    funder: str
    month: Month
    changes: tuple[Change, ...]
    sha256: str
    size: int

    @property
    def minutes(self) -> int:
        return sum(c.line.minutes for c in self.changes if c.kind is not ChangeKind.DELETED)

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind is kind)

    @property
    def interventions(self) -> int:
        return len(self.changes)


def write_files(
    session: Session,
    plan: SendPlan,
    facts: MonthFacts,
    settings: BillingSettings,
    issued: datetime,
    folder: Path,
) -> list[WrittenFile]:
    """Write and validate every file of the plan into ``folder``; all or nothing.

    Each file is written under a ``.part`` name and renamed when complete; on
    a schema error every file of this run is removed and ``SchemaError`` is
    raised, so nothing of a broken month can be sent.
    """
    folder.mkdir(parents=True, exist_ok=True)
    parties: Parties = facts.parties
    everything = [c for changes in plan.files.values() for c in changes]
    parties.load(
        session, {c.line.beneficiary_id for c in everything}, {c.line.worker_id for c in everything}
    )
    written: list[WrittenFile] = []
    try:
        for code, changes in sorted(plan.files.items()):
            funder: FunderIdentity = facts.funders[code]
            name = file_name(settings.provider, funder, plan.month, issued)
            path = folder / name
            # Whole or absent (fsync, rename): a schema error leaves nothing behind.
            with atomic_writer(path) as out:
                done = write_delivery(
                    out,
                    changes,
                    funder,
                    settings.provider,
                    parties.beneficiaries,
                    parties.workers,
                    issued,
                    timestamp_method=settings.timestamp_method,
                )
            written.append(
                WrittenFile(path, code, plan.month, done, sha256_file(path), path.stat().st_size)
            )
    except SchemaError:
        for item in written:
            item.path.unlink(missing_ok=True)
        raise
    return written


HELD_HEADER = (
    "mois",
    "beneficiaire",
    "financeur",
    "plan",
    "intervention",
    "date",
    "minutes",
    "motif",
)


def write_held_back(plan: SendPlan, parties: Parties, folder: Path) -> Path | None:
    """The lines this send holds back, one per declaration, with the reason (CSV)."""
    if not plan.held_back:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"retenues-{plan.month}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = SafeWriter(handle)
        writer.writerow(HELD_HEADER)
        for held in plan.held_back:
            line = held.line
            writer.writerow(
                (
                    str(plan.month),
                    parties.beneficiary_refs.get(line.beneficiary_id, line.beneficiary_id),
                    line.funder_code,
                    line.plan_id or "",
                    line.visit_id,
                    to_paris(line.kept.start).date().isoformat(),
                    line.minutes,
                    held.reason.label,
                )
            )
    return path


def _relative(path: Path, data_dir: Path) -> str:
    return path.resolve().relative_to(data_dir.resolve()).as_posix()


def _actor(triggered_by: str) -> str:
    return ACTOR if triggered_by == "scheduler" else triggered_by


def journal_files(
    session: Session,
    written: list[WrittenFile],
    data_dir: Path,
    *,
    full: bool,
    triggered_by: str,
    at: datetime,
) -> None:
    """Before anything leaves: each file as PENDING and what it declares, in one transaction."""
    funder_ids = dict(session.execute(select(Funder.code, Funder.id)).all())
    for item in written:
        session.add(
            OutboxFile(
                name=item.path.name,
                month=item.month.first_day,
                funder_id=funder_ids[item.funder],
                path=_relative(item.path, data_dir),
                sha256=item.sha256,
                size=item.size,
                advices=item.interventions,
                corrections=item.count(ChangeKind.CHANGED),
                deletions=item.count(ChangeKind.DELETED),
                minutes=item.minutes,
                full=full,
                status=OutboxStatus.PENDING,
                triggered_by=triggered_by,
                created_at=at,
            )
        )
        declarations.record(session, declarations.ESPPADOM, item.changes, item.path.name, at)
        audit(
            session,
            _actor(triggered_by),
            "billing.delivery.journalled",
            "delivery_file",
            f"{item.month}/{item.funder}",
            file=item.path.name,
            month=str(item.month),
            funder=item.funder,
            interventions=item.interventions,
            corrections=item.count(ChangeKind.CHANGED),
            deletions=item.count(ChangeKind.DELETED),
            minutes=item.minutes,
            sha256=item.sha256,
        )
    session.flush()


@dataclass
class Delivery:
    """What the upload step did."""

    sent: list[str] = field(default_factory=list)
    #: Sent by an earlier run that could not mark them (found on the remote side).
    found_there: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str = ""


def upload_pending(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    settings: BillingSettings,
    channel: Transport,
    triggered_by: str,
) -> Delivery:
    """Upload every PENDING file, oldest first, and mark each SENT once it has left.

    A file already on the remote side (an earlier run uploaded it and stopped
    before marking it) is marked without a second upload. Stops at the first
    failure: later files wait, so that the Département never receives a
    correction before the declaration it corrects.
    """
    outcome = Delivery()
    with session_factory() as session:
        pending = session.scalars(
            select(OutboxFile)
            .where(OutboxFile.status == OutboxStatus.PENDING)
            .order_by(OutboxFile.id)
        ).all()
        if not pending:
            return outcome
        codes = {fid: code for code, fid in session.execute(select(Funder.code, Funder.id))}
        try:
            there = set(channel.list(settings.remote_outbox))
        except (TransportError, OSError) as exc:
            outcome.failed, outcome.error = pending[0].name, str(exc)
            return outcome
        for row in pending:
            path = data_dir / row.path
            arrived = row.name in there
            if not arrived:
                try:
                    if sha256_file(path) != row.sha256:
                        raise TransportError("le fichier conservé ne correspond plus au journal")
                    channel.put(path, settings.remote_outbox, row.name)
                except (TransportError, OSError, ValueError) as exc:
                    logger.error("ESPPADOM %s not sent: %s", row.name, exc)
                    outcome.failed, outcome.error = row.name, str(exc)
                    return outcome
            row.status = OutboxStatus.SENT
            row.sent_at = utc_now()
            audit(
                session,
                _actor(triggered_by),
                "billing.delivery.sent",
                "delivery_file",
                f"{Month.of(row.month)}/{codes.get(row.funder_id, row.funder_id)}",
                file=row.name,
                sha256=row.sha256,
                already_there=arrived,
            )
            session.commit()
            (outcome.found_there if arrived else outcome.sent).append(row.name)
            logger.info("ESPPADOM %s sent (%d declarations)", row.name, row.advices)
    return outcome


def send_month(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    settings: BillingSettings,
    channel: Transport,
    month: Month,
    *,
    only_funder: str | None = None,
    resend: bool = False,
    triggered_by: str = "scheduler",
    issued: datetime | None = None,
    revision: int = 1,
) -> JobResult:
    """Send what changed in ``month`` since its last send (everything, same ids, if ``resend``).

    ``revision`` is the closed month's (``ledger.closures.closed_revision``):
    it names the pre-billing files, so a second close never overwrites the first's.

    The clean entry point of the teletransmission, for the scheduled job, the
    command line and the month's close (which runs it on a closed month only).
    First completes any file an earlier run journalled and could not upload;
    then declares the changes (``ledger.declarations.changes_since_last_send``)
    in one file per funder. A funder without its identity blocks only its own
    file; a plan without the Département's reference holds back only its
    lines; both are listed in the run journal (and the held-back lines in a
    CSV file of the run).
    """
    issued = issued or utc_now()
    label = str(month)
    earlier = upload_pending(session_factory, data_dir, settings, channel, triggered_by)
    if earlier.failed:
        return JobResult(
            RunStatus.FAILED,
            counts={"files": 0, "completed": len(earlier.sent) + len(earlier.found_there)},
            message=(
                f"Aucun nouvel envoi pour {label} : le fichier {earlier.failed}, journalisé par "
                f"un envoi précédent, n'a toujours pas pu partir ({earlier.error}). Il partira, "
                "tel quel, au prochain envoi."
            ),
        )
    with session_factory() as session:
        facts, billing = compute(session, month, settings)
        summary, detail = write_prebilling(
            facts, billing, billing_dir(data_dir) / "prebilling", revision=revision
        )
        plan = plan_send(session, facts, billing, only_funder=only_funder, resend=resend)
        folder = billing_dir(data_dir) / "sent" / label
        try:
            written = write_files(session, plan, facts, settings, issued, folder)
        except SchemaError as exc:
            logger.error("ESPPADOM %s refused before sending: %s", label, exc)
            return JobResult(
                RunStatus.FAILED,
                counts={"files": 0},
                files=(summary, detail),
                message=f"Aucun fichier envoyé pour {label} : {exc}",
            )
        held_file = write_held_back(plan, facts.parties, billing_dir(data_dir) / "held")
        journal_files(session, written, data_dir, full=resend, triggered_by=triggered_by, at=issued)
        session.commit()
    now = upload_pending(session_factory, data_dir, settings, channel, triggered_by)
    extra = (held_file,) if held_file else ()
    counts = {
        "files": len(written),
        "interventions": sum(w.interventions for w in written),
        "new": sum(w.count(ChangeKind.NEW) for w in written),
        "corrections": sum(w.count(ChangeKind.CHANGED) for w in written),
        "deletions": sum(w.count(ChangeKind.DELETED) for w in written),
        "minutes": sum(w.minutes for w in written),
        "held_back": len(plan.held_back),
        "blocked_funders": len(plan.blocked),
        "completed": len(earlier.sent) + len(earlier.found_there),
        "unbillable": len(billing.unbillable),
    }
    message = _message(label, plan, written, earlier, now, billing, facts.beneficiary_refs)
    if now.failed:
        status = RunStatus.FAILED
    elif plan.held_back or plan.blocked:
        status = RunStatus.PARTIAL
    else:
        status = RunStatus.SUCCESS
    return JobResult(
        status,
        counts=counts,
        files=(*(w.path for w in written), summary, detail, *extra),
        message=message,
    )


def _message(
    label: str,
    plan: SendPlan,
    written: list[WrittenFile],
    earlier: Delivery,
    now: Delivery,
    billing: MonthBilling,
    refs: dict[int, str],
) -> str:
    parts: list[str] = []
    if earlier.sent or earlier.found_there:
        names = ", ".join(earlier.sent + earlier.found_there)
        parts.append(f"Fichiers d'un envoi précédent complétés : {names}")
    sent_now = set(now.sent) | set(now.found_there)
    lines = []
    for w in written:
        details = []
        if w.count(ChangeKind.CHANGED):
            details.append(f"{w.count(ChangeKind.CHANGED)} corrections")
        if w.count(ChangeKind.DELETED):
            details.append(f"{w.count(ChangeKind.DELETED)} suppressions")
        more = f" dont {', '.join(details)}" if details else ""
        state = "" if w.path.name in sent_now else " — EN ATTENTE"
        lines.append(
            f"{w.funder} : {w.interventions} déclarations{more}, {format_hours(w.minutes)}"
            f" ({w.path.name}){state}"
        )
    kind = "Renvoi complet (mêmes identifiants)" if plan.resend else "Télétransmission"
    if lines:
        parts.append(f"{kind} {label} envoyée — " + " ; ".join(lines))
    else:
        parts.append(f"{kind} {label} : aucune modification à transmettre depuis le dernier envoi")
    if now.failed:
        parts.append(
            f"Dépôt interrompu sur {now.failed} ({now.error}) : ce fichier et les suivants sont "
            "journalisés et partiront, tels quels, au prochain envoi"
        )
    for code, reasons in sorted(plan.blocked.items()):
        parts.append(f"{code} non envoyé : {' ; '.join(reasons)}")
    no_ref = [h for h in plan.held_back if h.reason is declarations.HoldReason.NO_PLAN_REFERENCE]
    if no_ref:
        by_plan: dict[tuple[int, str, int | None], int] = defaultdict(int)
        for held in no_ref:
            by_plan[(held.line.beneficiary_id, held.line.funder_code, held.line.plan_id)] += 1
        shown = [
            f"bénéficiaire {refs.get(ben, ben)} ({code}, plan {plan_id}) : {n} interventions"
            for (ben, code, plan_id), n in sorted(by_plan.items())[:20]
        ]
        others = len(by_plan) - len(shown)
        parts.append(
            f"{len(no_ref)} interventions retenues, plan d'aide sans référence du Département — "
            + ", ".join(shown)
            + (f" et {others} autres plans" if others > 0 else "")
        )
    if billing.unbillable:
        parts.append(f"{len(billing.unbillable)} interventions incomplètes non facturées")
    return ". ".join(parts)


def read_acks(data_dir: Path, channel: Transport, folder: str) -> JobResult:
    """Fetch new acknowledgements, match them to the files sent, keep them next to each file.

    An acknowledgement is moved to ``<folder>/processed`` on the remote side
    only once its copy is kept locally; one that cannot be read or matched
    to a file sent stays in place and is reported at every run until someone
    deals with it.
    """
    sent = {
        p.name: p
        for p in (billing_dir(data_dir) / "sent").glob("*/*.xml")
        if not p.name.endswith(ACK_SUFFIX)
    }
    counts = {"accepted": 0, "partial": 0, "rejected": 0, "rejected_interventions": 0, "errors": 0}
    notes: list[str] = []
    files: list[Path] = []
    for name in channel.list(folder):
        if not name.endswith(ACK_SUFFIX):
            continue
        delivery_name = name.removesuffix(ACK_SUFFIX) + ".xml"
        target = sent.get(delivery_name)
        if target is None:
            counts["errors"] += 1
            notes.append(f"{name} : accusé d'un fichier inconnu")
            continue
        stored = target.with_name(name)
        if stored.exists():
            channel.mark_processed(folder, name)
            continue
        data = channel.read(folder, name)
        try:
            ack = parse_ack(data)
        except AckError as exc:
            counts["errors"] += 1
            notes.append(f"{name} : {exc}")
            continue
        if ack.file != delivery_name or ack.sha256 != sha256_file(target):
            counts["errors"] += 1
            notes.append(
                f"{name} : l'accusé ne correspond pas au fichier envoyé (nom ou empreinte)"
            )
            continue
        stored.write_bytes(data)
        channel.mark_processed(folder, name)
        files.append(stored)
        received = to_paris(ack.received_at).strftime("%d/%m/%Y %H:%M")
        if ack.status is AckStatus.ACCEPTED:
            counts["accepted"] += 1
            notes.append(f"{delivery_name} : accepté le {received}")
            continue
        counts["partial" if ack.status is AckStatus.PARTIAL else "rejected"] += 1
        counts["rejected_interventions"] += len(ack.rejections)
        details = ", ".join(
            f"intervention {r.visit_id or r.transaction_id} ({r.code} : {r.reason})"
            for r in ack.rejections[:20]
        )
        more = len(ack.rejections) - 20
        notes.append(
            f"{delivery_name} : {'rejeté' if ack.status is AckStatus.REJECTED else 'rejet partiel'}"
            f" le {received} — {details}{f' et {more} autres' if more > 0 else ''}"
        )
    problems = counts["partial"] + counts["rejected"] + counts["errors"]
    return JobResult(
        RunStatus.PARTIAL if problems else RunStatus.SUCCESS,
        counts=counts,
        files=tuple(files),
        message=" ; ".join(notes) if notes else "Aucun nouvel accusé de réception",
    )
