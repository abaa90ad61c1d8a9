"""``telegestion billing`` on the demo organisation, as a user runs it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from billing_export.ack import AckStatus, acknowledge
from ledger.db import make_engine
from ledger.timeutil import Month, paris_date, utc_now
from tests import factories
from tests.config.test_cli import telegestion


def test_demo_month_prebilling_send_and_acknowledgement(tmp_path: Path) -> None:
    demo = telegestion(
        "demo", "--workers", "15", "--beneficiaries", "80", "--days", "45", data_dir=tmp_path
    )
    assert demo.returncode == 0, demo.stderr
    previous = Month.of(paris_date(utc_now())).previous()
    year, month = previous.year, previous.month
    label = f"{year:04d}-{month:02d}"

    pre = telegestion("billing", "prebilling", "--month", label, data_dir=tmp_path)
    assert pre.returncode == 0, pre.stderr
    assert f"Pré-facturation {label}" in pre.stdout and "APA75" in pre.stdout
    summary = tmp_path / "billing" / "prebilling" / f"prebilling-{label}.csv"
    header = summary.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("mois;beneficiaire;financeur;plan")

    early = telegestion("billing", "send", "--month", label, "--by", "referent", data_dir=tmp_path)
    assert early.returncode == 0, early.stderr
    assert "non clôturé : rien n'est produit" in early.stdout
    assert not (tmp_path / "billing" / "sent").exists()
    engine = make_engine(f"sqlite:///{tmp_path / 'telegestion.sqlite3'}")
    with Session(engine) as session:
        factories.close_month(session, Month(year, month))
    engine.dispose()

    sent = telegestion("billing", "send", "--month", label, "--by", "referent", data_dir=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert f"Réussi — Télétransmission {label} envoyée" in sent.stdout
    outbox = tmp_path / "flows" / "remote" / "esppadom" / "depot"
    files = sorted(outbox.glob("ESPPADOM-DELIVERY-*.xml"))
    assert files and all("-APA75-" in f.name or "75-" in f.name for f in files)

    for path in files:
        acknowledge(path, outbox.parent / "retours", AckStatus.ACCEPTED, datetime.now(UTC))
    read = telegestion("billing", "acks", data_dir=tmp_path)
    assert read.returncode == 0, read.stderr
    assert f"accepted: {len(files)}" in read.stdout

    bad = telegestion("billing", "send", "--month", "2026-13", data_dir=tmp_path)
    assert bad.returncode == 1 and "mois invalide" in bad.stdout
    wrong = telegestion("billing", "send", "--month", label, "--funder", "CNAV", data_dir=tmp_path)
    assert wrong.returncode == 1 and "départemental" in wrong.stdout

    # Every run by hand is in the run journal, as the scheduled ones are.
    journal = telegestion("jobs", "history", data_dir=tmp_path)
    assert journal.returncode == 0, journal.stderr
    lines = journal.stdout.splitlines()
    assert sum("billing_export.monthly_delivery" in line for line in lines) == 4
    assert sum("billing_export.read_acks" in line for line in lines) == 1
