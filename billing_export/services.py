"""What billing does: compute a month, write the pre-billing, send and follow the DELIVERY files.

Each entry point (CLI, scheduled job) passes a session factory, the data
directory, the settings and a channel; results come back as
``kernel.jobs.JobResult`` so that the run journal shows them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from hashlib import file_digest
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from billing_export.ack import ACK_SUFFIX, AckError, AckStatus, parse_ack
from billing_export.adapter import MonthFacts, load_month
from billing_export.esppadom import (
    SchemaError,
    file_name,
    local_iso,
    write_delivery,
)
from billing_export.settings import BillingSettings
from kernel.jobs import JobResult, RunStatus
from kernel.transport import Transport
from ledger.models import FunderKind
from ledger.money import MonthBilling, allocate_month
from ledger.service import audit
from ledger.spreadsheet import SafeWriter
from ledger.timeutil import Month, to_paris, utc_now

logger = logging.getLogger(__name__)

ACTOR = "system:billing"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BillingError(Exception):
    """A request billing refuses; the message is safe to show (French)."""


def parse_month(text: str) -> tuple[int, int]:
    try:
        month = Month.parse(text)
    except ValueError:
        raise BillingError(
            f"mois invalide : {text!r} (attendu AAAA-MM, par exemple 2026-10)"
        ) from None
    return month.year, month.month


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return file_digest(handle, "sha256").hexdigest()


def billing_dir(data_dir: Path) -> Path:
    return data_dir / "billing"


def compute(
    session: Session, year: int, month: int, settings: BillingSettings
) -> tuple[MonthFacts, MonthBilling]:
    facts = load_month(session, year, month)
    return facts, allocate_month(year, month, facts.visits, facts.plans, settings.rounding_rules)


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


def write_prebilling(facts: MonthFacts, billing: MonthBilling, folder: Path) -> tuple[Path, Path]:
    """Write the summary (by beneficiary, funder, worker) and the per-share detail CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    label = f"{billing.year:04d}-{billing.month:02d}"
    refs = {p.plan_id: p.reference for p in facts.plans}
    summary = folder / f"prebilling-{label}.csv"
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
    detail = folder / f"prebilling-{label}-detail.csv"
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
                        facts.beneficiary_refs.get(visit.beneficiary_id, visit.beneficiary_id),
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
    codes = sorted(c for c, f in facts.funders.items() if FunderKind(f.kind).is_departement)
    if only is None:
        return codes
    if only not in facts.funders:
        raise BillingError(f"financeur inconnu : {only}")
    if only not in codes:
        raise BillingError(f"{only} n'est pas un financeur départemental (APA, ASL, PCH)")
    return [only]


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    funder: str
    interventions: int
    minutes: int
    sha256: str


def write_files(
    facts: MonthFacts,
    billing: MonthBilling,
    settings: BillingSettings,
    issued: datetime,
    folder: Path,
    only_funder: str | None = None,
) -> list[WrittenFile]:
    """Write and validate every file of the month into ``folder``; all or nothing.

    Each file is written under a ``.part`` name and renamed when complete; on
    a schema error every file of this run is removed and ``SchemaError`` is
    raised, so nothing of a broken month can be sent.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[WrittenFile] = []
    partial: Path | None = None
    try:
        for code in departement_funders(facts, only_funder):
            funder = facts.funders[code]
            name = file_name(settings.provider, funder, billing.year, billing.month, issued)
            partial = folder / (name + ".part")
            with open(partial, "wb") as out:
                interventions = write_delivery(
                    out,
                    billing,
                    funder,
                    settings.provider,
                    facts.beneficiaries,
                    facts.workers,
                    issued,
                )
            if not interventions:
                partial.unlink()
                continue
            path = partial.replace(folder / name)
            written.append(
                WrittenFile(
                    path,
                    code,
                    len(interventions),
                    sum(m for _v, m in interventions),
                    file_sha256(path),
                )
            )
    except SchemaError:
        if partial is not None:
            partial.unlink(missing_ok=True)
        for item in written:
            item.path.unlink(missing_ok=True)
        raise
    return written


def send_month(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    settings: BillingSettings,
    channel: Transport,
    year: int,
    month: int,
    *,
    only_funder: str | None = None,
    triggered_by: str = "scheduler",
    issued: datetime | None = None,
) -> JobResult:
    """Compute the month, write the pre-billing, then validate and send one file per funder.

    Every file is built and validated before the first one leaves: a file
    that breaks the schema stops the run with nothing sent.
    """
    issued = issued or utc_now()
    label = f"{year:04d}-{month:02d}"
    with session_factory() as session:
        facts, billing = compute(session, year, month, settings)
        summary, detail = write_prebilling(facts, billing, billing_dir(data_dir) / "prebilling")
        folder = billing_dir(data_dir) / "sent" / label
        try:
            written = write_files(facts, billing, settings, issued, folder, only_funder)
        except SchemaError as exc:
            logger.error("télétransmission %s refusée avant envoi : %s", label, exc)
            return JobResult(
                RunStatus.FAILED,
                counts={"files": 0},
                files=(summary, detail),
                message=f"Aucun fichier envoyé pour {label} : {exc}",
            )
        for item in written:
            # Journal first (a database error stops before anything leaves), then send.
            audit(
                session,
                triggered_by if triggered_by != "scheduler" else ACTOR,
                "billing.delivery.sent",
                "delivery_file",
                f"{label}/{item.funder}",
                file=item.path.name,
                month=label,
                funder=item.funder,
                interventions=item.interventions,
                minutes=item.minutes,
                sha256=item.sha256,
            )
            session.flush()
            channel.put(item.path, settings.remote_outbox, item.path.name)
            logger.info(
                "ESPPADOM %s %s : %d interventions, %d min",
                label,
                item.funder,
                item.interventions,
                item.minutes,
            )
        session.commit()
    parts = [
        f"{s.funder} : {s.interventions} interventions, {_hours(s.minutes)} ({s.path.name})"
        for s in written
    ]
    message = (
        f"Télétransmission {label} envoyée — " + " ; ".join(parts)
        if written
        else f"Télétransmission {label} : aucune intervention à transmettre"
    )
    if billing.unbillable:
        message += f". {len(billing.unbillable)} interventions incomplètes non facturées"
    return JobResult(
        RunStatus.SUCCESS,
        counts={
            "files": len(written),
            "interventions": sum(s.interventions for s in written),
            "minutes": sum(s.minutes for s in written),
            "unbillable": len(billing.unbillable),
        },
        files=(*(s.path for s in written), summary, detail),
        message=message,
    )


def _hours(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60:02d}"


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
        if ack.file != delivery_name or ack.sha256 != file_sha256(target):
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
