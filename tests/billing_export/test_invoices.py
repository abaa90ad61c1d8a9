"""The Département's final invoices, fetched from its folder on a real OpenSSH server."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export.invoices import (
    InvoiceUnavailable,
    open_invoice,
    parse_invoice_name,
    read_invoices,
)
from billing_export.models import ReceivedInvoice
from billing_export.settings import BillingSettings
from kernel.jobs import RunStatus
from ledger.timeutil import Month
from tests.flows.conftest import SshServer


def pdf(text: str) -> bytes:
    """A real PDF, as the Département's system would produce one."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "aid", "area", "month"),
    [
        ("FACTURE-APA-75011-202610.pdf", "APA", "75011", Month(2026, 10)),
        ("facture_pch_75018_2026-11.PDF", "PCH", "75018", Month(2026, 11)),
        ("Facture ASL 2026-10 75020.pdf", "ASL", "75020", Month(2026, 10)),
        ("FACTURE-APA-202610.pdf", "APA", "", Month(2026, 10)),
        ("releve.pdf", "", "", None),
        ("FACTURE-AM-2A004-202613.pdf", "AM", "2A004", None),
    ],
)
def test_what_a_name_says(name: str, aid: str, area: str, month: Month | None) -> None:
    meta = parse_invoice_name(name)
    assert (meta.aid_type, meta.area, meta.month) == (aid, area, month)


@pytest.mark.sftp
def test_invoices_are_fetched_checked_and_kept_once(
    session_factory: sessionmaker[Session],
    session: Session,
    sshd: SshServer,
    sftp_root: Path,
    tmp_path: Path,
) -> None:
    settings = replace(BillingSettings(), invoice_max_bytes=20_000)
    folder = sftp_root / settings.remote_invoices
    folder.mkdir(parents=True)
    good = pdf("Facture APA 75011 octobre 2026")
    (folder / "FACTURE-APA-75011-202610.pdf").write_bytes(good)
    (folder / "FACTURE-PCH-202610.pdf").write_bytes(pdf("Facture PCH, tout Paris"))
    (folder / "RECOPIE-APA-75011-202610.pdf").write_bytes(good)  # the same file again
    (folder / "FACTURE-APA-75012-202610.pdf").write_bytes(b"<html>" + b"x" * 500 + b"</html>")
    (folder / "FACTURE-APA-75013-202610.pdf").write_bytes(good[: len(good) // 2])
    (folder / "FACTURE-APA-75014-202610.pdf").write_bytes(good + b"%" * 30_000 + b"\n%%EOF\n")
    data_dir = tmp_path / "data"

    with sshd.transport() as channel:
        result = read_invoices(session_factory, data_dir, channel, settings)
    assert result.status is RunStatus.PARTIAL
    assert result.counts == {"received": 2, "already": 1, "refused": 3, "unassigned": 1}
    assert "FACTURE-APA-75012-202610.pdf : refusé, laissé sur le serveur (ce n'est pas un PDF" in (
        result.message
    )
    assert "FACTURE-APA-75013-202610.pdf : refusé, laissé sur le serveur (PDF incomplet" in (
        result.message
    )
    assert (
        "FACTURE-APA-75014-202610.pdf : refusé, laissé sur le serveur (fichier trop volumineux"
        in (result.message)
    )
    rows = session.scalars(select(ReceivedInvoice).order_by(ReceivedInvoice.name)).all()
    assert [(r.name, r.aid_type, r.area, str(r.month)) for r in rows] == [
        ("FACTURE-APA-75011-202610.pdf", "APA", "75011", "2026-10-01"),
        ("FACTURE-PCH-202610.pdf", "PCH", "", "2026-10-01"),
    ]
    assert open_invoice(data_dir, rows[0]) == good
    # Moved aside once kept; the refused ones stay for a person, and are reported again.
    processed = sorted(p.name for p in (folder / "processed").iterdir())
    assert processed == [
        "FACTURE-APA-75011-202610.pdf",
        "FACTURE-PCH-202610.pdf",
        "RECOPIE-APA-75011-202610.pdf",
    ]
    with sshd.transport() as channel:
        again = read_invoices(session_factory, data_dir, channel, settings)
    assert again.counts == {"received": 0, "already": 0, "refused": 3, "unassigned": 0}
    assert len(session.scalars(select(ReceivedInvoice)).all()) == 2
    assert not list((data_dir / "billing" / "invoices" / "incoming").iterdir())

    # A kept file that no longer matches its digest is not served.
    (data_dir / rows[0].path).write_bytes(pdf("autre chose"))
    with pytest.raises(InvoiceUnavailable, match="altéré"):
        open_invoice(data_dir, rows[0])
