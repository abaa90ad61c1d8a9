"""The jobs the flows scheduler collects, run through their JobContext as it runs them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export.ack import AckStatus, Rejection, acknowledge
from billing_export.esppadom import read_delivery
from billing_export.jobs import jobs, monthly_delivery, read_acknowledgements
from billing_export.settings import BillingSettings
from config.jobs import collect_jobs
from kernel.jobs import JobContext, RunStatus
from kernel.runs import JobRun
from kernel.scheduler import run_job
from ledger.timeutil import Month
from tests import factories
from tests.billing_export.conftest import October


def test_jobs_are_declared_for_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = {job.name: job for job in jobs()}
    # ESPPADOM defines no acknowledgement: none is awaited unless a Département sends some.
    assert set(declared) == {"billing_export.monthly_delivery", "billing_export.read_invoices"}
    # Daily: a closed month leaves the night after its close (kernel.monthly).
    assert declared["billing_export.monthly_delivery"].cron == {"hour": "6", "minute": "0"}
    assert all(job.label for job in declared.values())
    monkeypatch.setenv("TELEGESTION_BILLING_ACKS_ENABLED", "true")
    assert "billing_export.read_acks" in {job.name for job in jobs()}


@pytest.fixture
def closed(session: Session, october: October) -> October:
    factories.close_month(session, Month(2026, 10))
    return october


def test_a_month_not_closed_is_not_sent(
    session_factory: sessionmaker[Session],
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    ctx = JobContext(session_factory, tmp_path, "manager", {"month": "2026-10"})
    result = monthly_delivery(ctx, settings)
    assert result.status is RunStatus.SUCCESS
    assert "Mois de octobre 2026 non clôturé : rien n'est produit" in result.message
    assert not (tmp_path / "billing").exists()
    assert not (tmp_path / "flows" / "remote" / settings.remote_outbox).exists()


def test_monthly_job_sends_the_month_named_in_its_parameters(
    session_factory: sessionmaker[Session],
    closed: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    ctx = JobContext(session_factory, tmp_path, "manager", {"month": "2026-10"})
    result = monthly_delivery(ctx, settings)
    assert result.status is RunStatus.SUCCESS, result.message
    deposit = tmp_path / "flows" / "remote" / settings.remote_outbox
    assert len(list(deposit.glob("*.xml"))) == result.counts["files"] == 2
    acks = read_acknowledgements(ctx, settings)
    assert acks.status is RunStatus.SUCCESS and "désactivée" in acks.message
    acks = read_acknowledgements(ctx, replace(settings, acks_enabled=True))
    assert acks.status is RunStatus.SUCCESS and acks.message == "Aucun nouvel accusé de réception"


@pytest.mark.parametrize(
    ("params", "expected"),
    [({"month": "2026-13"}, "mois invalide"), ({"month": "2026-10", "funder": "X"}, "inconnu")],
)
def test_monthly_job_reports_bad_parameters(
    session_factory: sessionmaker[Session],
    closed: October,
    settings: BillingSettings,
    tmp_path: Path,
    params: dict[str, str],
    expected: str,
) -> None:
    result = monthly_delivery(JobContext(session_factory, tmp_path, "manager", params), settings)
    assert result.status is RunStatus.FAILED and expected in result.message


def test_a_bad_rounding_rule_fails_the_run_clearly(
    session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGESTION_BILLING_ROUNDING", "APA75=7/down")
    result = monthly_delivery(JobContext(session_factory, tmp_path, "scheduler", {}))
    assert result.status is RunStatus.FAILED and "pas d'arrondi 7" in result.message


def test_the_run_journal_shows_what_was_sent_and_what_came_back(
    session_factory: sessionmaker[Session],
    session: Session,
    closed: October,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the flows scheduler's own ``run_job``, as the extranet's journal page reads it."""
    monkeypatch.setenv("TELEGESTION_BILLING_PROVIDER_SIRET", "12345678900011")
    monkeypatch.setenv("TELEGESTION_BILLING_ACKS_ENABLED", "true")
    declared = {job.name: job for job in collect_jobs()}
    send_job = declared["billing_export.monthly_delivery"]
    run = run_job(
        send_job, session_factory, tmp_path, triggered_by="referent", params={"month": "2026-10"}
    )
    assert run.status is RunStatus.SUCCESS and run.finished_at is not None
    assert run.message.startswith("Télétransmission 2026-10 envoyée")
    assert run.counts["files"] == 2
    sent = [f for f in run.files if f.endswith(".xml")]
    assert len(sent) == 2 and all(f.startswith("billing/sent/2026-10/") for f in sent)

    deposit = tmp_path / "flows" / "remote" / "esppadom" / "depot"
    rejected = sorted(deposit.glob("*.xml"))[0]
    transaction = read_delivery(rejected.read_bytes())[0].document_id
    acknowledge(
        rejected,
        deposit.parent / "retours",
        AckStatus.REJECTED,
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        (Rejection(transaction, "HORS_DELAI", "Fichier reçu hors délai"),),
    )
    run = run_job(declared["billing_export.read_acks"], session_factory, tmp_path)
    assert run.status is RunStatus.PARTIAL
    assert "rejeté le 02/11/2026 10:00" in run.message and "HORS_DELAI" in run.message
    stored = session.scalars(select(JobRun).order_by(JobRun.id)).all()
    assert [r.job_name for r in stored] == [
        "billing_export.monthly_delivery",
        "billing_export.read_acks",
    ]
