"""Done when: a month of the demo organisation goes to a real SFTP server and its ack comes back."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from billing_export.ack import AckStatus, Rejection, ack_name, acknowledge
from billing_export.esppadom import read_delivery
from billing_export.jobs import monthly_delivery, read_acknowledgements
from billing_export.settings import BillingSettings
from demo.organisation import load_demo
from kernel.jobs import JobContext, RunStatus
from ledger.timeutil import Month
from tests import factories
from tests.flows.conftest import SshServer


@pytest.fixture
def sftp_env(sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configure the flows transport for SFTP the way an operator does: environment variables."""
    for field, value in {
        "TRANSPORT": "sftp",
        "SFTP_HOST": "127.0.0.1",
        "SFTP_PORT": str(sshd.port),
        "SFTP_USER": "root",
        "SFTP_KNOWN_HOSTS": str(sshd.known_hosts),
        "SFTP_KEY_PATH": str(sshd.user_key),
        "SFTP_TIMEOUT": "10",
        "BACKOFF_SECONDS": "0.01",
    }.items():
        monkeypatch.setenv(f"TELEGESTION_FLOWS_{field}", value)


def test_demo_month_over_sftp_with_acknowledgements(
    session: Session,
    session_factory: sessionmaker[Session],
    settings: BillingSettings,
    sftp_env: None,
    sftp_root: Path,
    tmp_path: Path,
) -> None:
    load_demo(
        session,
        seed=5,
        workers=12,
        beneficiaries=80,
        days=31,
        now=datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
    )
    session.commit()
    factories.close_month(session, Month(2026, 10))
    ctx = JobContext(session_factory, tmp_path, "referent", {"month": "2026-10"})

    sent = monthly_delivery(ctx, settings)
    assert sent.status is RunStatus.SUCCESS, sent.message
    deposit = sftp_root / settings.remote_outbox
    remote = sorted(deposit.glob("*.xml"))
    assert len(remote) == sent.counts["files"] >= 1
    for path in remote:
        read_delivery(path.read_bytes())  # what arrived is valid
        sidecar = (deposit / (path.name + ".sha256")).read_text().split()[0]
        assert sidecar == hashlib.sha256(path.read_bytes()).hexdigest()
        local = next((tmp_path / "billing" / "sent" / "2026-10").glob(path.name))
        assert local.read_bytes() == path.read_bytes()

    # The Département answers: the first file accepted, the others with one rejection each.
    returns = sftp_root / settings.remote_acks
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    acknowledge(remote[0], returns, AckStatus.ACCEPTED, at)
    for path in remote[1:]:
        first_advice = read_delivery(path.read_bytes())[0].document_id
        rejection = Rejection(first_advice, "BENEF_INCONNU", "Bénéficiaire inconnu")
        acknowledge(path, returns, AckStatus.PARTIAL, at, (rejection,))
    settings = replace(settings, acks_enabled=True)
    acks = read_acknowledgements(ctx, settings)
    assert acks.counts["accepted"] == 1
    assert acks.counts["partial"] == len(remote) - 1
    assert acks.status is (RunStatus.SUCCESS if len(remote) == 1 else RunStatus.PARTIAL)
    assert "accepté le 02/11/2026 10:00" in acks.message
    assert sorted(p.name for p in (returns / "processed").glob("*.ack.xml")) == sorted(
        ack_name(p.name) for p in remote
    )
    assert read_acknowledgements(ctx, settings).message == "Aucun nouvel accusé de réception"
