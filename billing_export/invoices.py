"""The Département's final invoices: fetched from its folder, checked, kept, listed.

The Département sends its final invoices back as PDF files, by kind of aid
and by arrondissement (customer's specification §3.2), into a folder of the
exchange server (``[billing] remote_invoices``). Each run lists that folder
and, for each file: downloads it (checked against its ``.sha256`` sidecar
when there is one), checks that it is a PDF of a sane size, keeps it under
``<data>/billing/invoices/<sha256>.pdf`` with a ``billing_invoices`` row,
commits, and only then moves the remote file to ``processed/``. A file that
fails a check stays where it is and is reported at every run. What the name
says (aid type, arrondissement, month) decides who sees it in the extranet:
an antenna sees the invoices of its arrondissements (``Antenna.areas``),
central roles see all. Naming: docs/flows/esppadom-factures.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export.models import ReceivedInvoice
from billing_export.settings import BillingSettings
from kernel.jobs import JobResult, RunStatus
from kernel.transport import Transport, TransportError
from ledger.service import audit
from ledger.timeutil import Month, utc_now

logger = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
#: Smaller than this cannot be a whole invoice.
MIN_BYTES = 200
#: A complete PDF ends with %%EOF (allowing trailing whitespace or an appended update).
EOF_WINDOW = 2048
#: Aid types the names may carry: the EDESS list, and ASL as the Département writes it.
AID_TOKENS = ("APA", "PCH", "AM", "ASL")

_AREA = re.compile(r"(?<![0-9])([0-9]{5}|2[AB][0-9]{3})(?![0-9])")
_MONTH = re.compile(r"(?<![0-9])(20[0-9]{2})-?(0[1-9]|1[0-2])(?![0-9])")
_TOKENS = re.compile(r"[A-Za-z]+")


class InvoiceError(Exception):
    """A received file refused; the message says why (French)."""


@dataclass(frozen=True, slots=True)
class InvoiceName:
    aid_type: str
    area: str
    month: Month | None


def parse_invoice_name(name: str) -> InvoiceName:
    """What a file name says: ``FACTURE-APA-75011-202610.pdf`` -> APA, 75011, 2026-10.

    Each part is optional and found wherever it stands: the aid type is the
    first of APA, PCH, AM, ASL among the name's words, the arrondissement the
    first five-digit postcode, the month the first YYYYMM or YYYY-MM.
    """
    stem = name.rsplit(".", 1)[0]
    month_match = _MONTH.search(stem)
    month = Month(int(month_match.group(1)), int(month_match.group(2))) if month_match else None
    without_month = _MONTH.sub(" ", stem)
    area_match = _AREA.search(without_month)
    words = {w.upper() for w in _TOKENS.findall(stem)}
    aid = next((t for t in AID_TOKENS if t in words), "")
    return InvoiceName(aid, area_match.group(1) if area_match else "", month)


def check_pdf(path: Path, max_bytes: int) -> None:
    """Raise ``InvoiceError`` unless ``path`` looks like a whole PDF of a sane size."""
    size = path.stat().st_size
    if size > max_bytes:
        raise InvoiceError(f"fichier trop volumineux ({size} octets, au plus {max_bytes})")
    if size < MIN_BYTES:
        raise InvoiceError(f"fichier trop petit pour une facture ({size} octets)")
    with open(path, "rb") as handle:
        head = handle.read(len(PDF_MAGIC))
        handle.seek(max(0, size - EOF_WINDOW))
        tail = handle.read()
    if head != PDF_MAGIC:
        raise InvoiceError("ce n'est pas un PDF (en-tête %PDF- absent)")
    if b"%%EOF" not in tail:
        raise InvoiceError("PDF incomplet (marque de fin %%EOF absente)")


def invoice_dir(data_dir: Path) -> Path:
    return data_dir / "billing" / "invoices"


def read_invoices(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    channel: Transport,
    settings: BillingSettings,
) -> JobResult:
    """Fetch, check and keep the new invoices of the Département's folder."""
    folder = settings.remote_invoices
    store = invoice_dir(data_dir)
    incoming = store / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    counts = {"received": 0, "already": 0, "refused": 0, "unassigned": 0}
    notes: list[str] = []
    files: list[Path] = []
    for name in channel.list(folder):
        local = incoming / f"{hashlib.sha256(name.encode()).hexdigest()}.part"
        try:
            channel.get(folder, name, local)
            check_pdf(local, settings.invoice_max_bytes)
        except (InvoiceError, TransportError, ValueError) as exc:
            local.unlink(missing_ok=True)
            counts["refused"] += 1
            notes.append(f"{name} : refusé, laissé sur le serveur ({exc})")
            continue
        with open(local, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        with session_factory() as session:
            known = session.scalars(
                select(ReceivedInvoice).where(ReceivedInvoice.sha256 == digest)
            ).first()
            if known is not None:
                local.unlink()
                channel.mark_processed(folder, name)
                counts["already"] += 1
                continue
            meta = parse_invoice_name(name)
            final = store / f"{digest}.pdf"
            local.replace(final)
            row = ReceivedInvoice(
                name=name[:200],
                sha256=digest,
                size=final.stat().st_size,
                path=final.relative_to(data_dir).as_posix(),
                aid_type=meta.aid_type,
                month=meta.month.first_day if meta.month else None,
                area=meta.area,
                received_at=utc_now(),
            )
            session.add(row)
            audit(
                session,
                "system:billing",
                "billing.invoice.received",
                "invoice",
                digest[:16],
                file=name,
                sha256=digest,
                area=meta.area,
                aid_type=meta.aid_type,
                month=str(meta.month) if meta.month else "",
            )
            session.commit()
        channel.mark_processed(folder, name)
        files.append(final)
        counts["received"] += 1
        if not meta.area:
            counts["unassigned"] += 1
            notes.append(f"{name} : reçu, sans arrondissement lisible (visible des référents)")
        else:
            notes.append(f"{name} : reçu ({meta.aid_type or 'aide ?'}, {meta.area})")
        logger.info("invoice %s received (%d bytes)", name, row.size)
    status = RunStatus.PARTIAL if counts["refused"] else RunStatus.SUCCESS
    message = " ; ".join(notes) if notes else "Aucune nouvelle facture du Département"
    return JobResult(status, counts=counts, files=tuple(files), message=message)


class InvoiceUnavailable(Exception):
    """The kept file is missing or no longer matches its digest (French message)."""


def open_invoice(data_dir: Path, invoice: ReceivedInvoice) -> bytes:
    """The invoice's bytes, checked against the digest recorded when it was received."""
    path = data_dir / invoice.path
    try:
        data = path.read_bytes()
    except OSError:
        raise InvoiceUnavailable("Le fichier de cette facture est introuvable.") from None
    if hashlib.sha256(data).hexdigest() != invoice.sha256:
        raise InvoiceUnavailable(
            "Le fichier de cette facture a été altéré : contactez l'administrateur."
        )
    return data


def download_name(invoice: ReceivedInvoice) -> str:
    """A safe download name: the Département's, reduced to plain characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", invoice.name)
    return cleaned if cleaned.lower().endswith(".pdf") else f"{cleaned}.pdf"
