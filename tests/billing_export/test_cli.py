"""``telegestion billing`` on the demo organisation, as a user runs it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from billing_export.ack import AckStatus, acknowledge
from billing_export.esppadom import read_delivery
from ledger.db import make_engine
from ledger.timeutil import Month, paris_date, utc_now
from tests import factories
from tests.config.test_cli import telegestion


def test_demo_month_prebilling_send_and_acknowledgement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = telegestion(
        "demo", "--workers", "15", "--beneficiaries", "80", "--days", "45", data_dir=tmp_path
    )
    assert demo.returncode == 0, demo.stderr
    label = str(Month.of(paris_date(utc_now())).previous())

    # A month not closed: no pre-billing, only a provisional pro-forma when asked for.
    refused = telegestion("billing", "prebilling", "--month", label, data_dir=tmp_path)
    assert refused.returncode == 2 and "non clôturé" in refused.stderr
    assert not (tmp_path / "billing" / "prebilling").exists()
    pre = telegestion("billing", "prebilling", "--month", label, "--provisoire", data_dir=tmp_path)
    assert pre.returncode == 0, pre.stderr
    assert f"Pré-facturation {label}" in pre.stdout and "APA75" in pre.stdout
    assert "PROVISOIRE" in pre.stdout
    summary = tmp_path / "billing" / "proforma" / f"proforma-{label}.csv"
    header = summary.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("mois;beneficiaire;financeur;plan")

    # The funders' identity: listed, and one refused value changes nothing.
    listed = telegestion("billing", "funders", "list", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "APA75;APA;CD75-APA;75;APA;;complet" in listed.stdout
    assert "ASLPH75;ASL_PH;CD75-ASLPH;75;AM;;complet" in listed.stdout
    bad = telegestion(
        "billing", "funders", "set", "APA75", "--aid-type", "ASL_PA", data_dir=tmp_path
    )
    assert bad.returncode == 2 and "type d'aide refusé" in bad.stderr
    local = telegestion(
        "billing",
        "funders",
        "set",
        "APA75",
        "--service-codes",
        "APA-AIDE=AD01",
        "--by",
        "admin",
        data_dir=tmp_path,
    )
    assert local.returncode == 0, local.stderr
    assert "APA75 : modifié — identifiant CD75-APA" in local.stdout

    early = telegestion("billing", "send", "--month", label, "--by", "referent", data_dir=tmp_path)
    assert early.returncode == 0, early.stderr
    assert "non clôturé : rien n'est produit" in early.stdout
    assert not (tmp_path / "billing" / "sent").exists()
    engine = make_engine(f"sqlite:///{tmp_path / 'telegestion.sqlite3'}")
    with Session(engine) as session:
        factories.close_month(session, Month.parse(label))
    engine.dispose()
    closed = telegestion("billing", "prebilling", "--month", label, data_dir=tmp_path)
    assert closed.returncode == 0 and "PROVISOIRE" not in closed.stdout, closed.stderr
    assert (tmp_path / "billing" / "prebilling" / f"prebilling-{label}.csv").is_file()

    sent = telegestion("billing", "send", "--month", label, "--by", "referent", data_dir=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert f"Réussi — Télétransmission {label} envoyée — " in sent.stdout
    outbox = tmp_path / "flows" / "remote" / "esppadom" / "depot"
    files = sorted(outbox.glob("ESPPADOM-DELIVERY-*.xml"))
    assert files and all("75-" in f.name for f in files)
    apa = next(f for f in files if "-APA75-" in f.name)
    assert {i.local_service_code for i in read_delivery(apa.read_bytes())} == {"AD01"}

    again = telegestion("billing", "send", "--month", label, data_dir=tmp_path)
    assert again.returncode == 0 and "aucune modification" in again.stdout
    resend = telegestion(
        "billing", "send", "--month", label, "--funder", "APA75", "--resend", data_dir=tmp_path
    )
    assert resend.returncode == 0 and "Renvoi complet" in resend.stdout

    # Acknowledgements: off by default (ESPPADOM has none), read when a Département sends some.
    off = telegestion("billing", "acks", data_dir=tmp_path)
    assert off.returncode == 0 and "désactivée" in off.stdout
    for path in files:
        acknowledge(path, outbox.parent / "retours", AckStatus.ACCEPTED, datetime.now(UTC))
    monkeypatch.setenv("TELEGESTION_BILLING_ACKS_ENABLED", "true")
    read = telegestion("billing", "acks", data_dir=tmp_path)
    assert read.returncode == 0, read.stderr
    assert f"accepted: {len(files)}" in read.stdout

    bad_month = telegestion("billing", "send", "--month", "2026-13", data_dir=tmp_path)
    assert bad_month.returncode == 1 and "mois invalide" in bad_month.stdout
    wrong = telegestion("billing", "send", "--month", label, "--funder", "CNAV", data_dir=tmp_path)
    assert wrong.returncode == 1 and "départemental" in wrong.stdout

    # Every run by hand is in the run journal, as the scheduled ones are.
    journal = telegestion("jobs", "history", data_dir=tmp_path)
    assert journal.returncode == 0, journal.stderr
    lines = journal.stdout.splitlines()
    assert sum("billing_export.monthly_delivery" in line for line in lines) == 6
    assert sum("billing_export.read_acks" in line for line in lines) == 2
