"""Scheduled jobs: the monthly teletransmission, the Département's invoices, and (when a
Département's connector sends them) acknowledgements."""

from __future__ import annotations

from billing_export import invoices, services
from billing_export.outbox import open_channel
from billing_export.settings import BillingSettings, load
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.monthly import run_closed_months
from kernel.settings import SettingsError, load_section
from kernel.transport import TransportError
from ledger.money import MoneyRuleError
from ledger.timeutil import Month

TRUE = ("1", "true", "yes", "oui", "on")


def monthly_delivery(ctx: JobContext, settings: BillingSettings | None = None) -> JobResult:
    """Pre-billing and teletransmission of each closed month not sent yet (``kernel.monthly``).

    A month that is not closed is never sent: the run says so. The revision
    (2 after a reopen and a new close) is ``ledger.closures.closed_revision``;
    what a revision > 1 sends (correction lines) is ``services.send_month``'s.
    """
    try:
        settings = settings or load()
    except (services.BillingError, MoneyRuleError, SettingsError) as exc:
        return JobResult(RunStatus.FAILED, message=str(exc))
    funder = ctx.params.get("funder")
    resend = str(ctx.params.get("resend", "")).lower() in TRUE

    def produce(month: Month, revision: int) -> JobResult:
        assert settings is not None
        try:
            with open_channel(ctx.data_dir) as channel:
                return services.send_month(
                    ctx.session_factory,
                    ctx.data_dir,
                    settings,
                    channel,
                    month,
                    only_funder=str(funder) if funder else None,
                    resend=resend,
                    triggered_by=ctx.triggered_by,
                    revision=revision,
                )
        except (services.BillingError, TransportError, SettingsError, MoneyRuleError) as exc:
            return JobResult(RunStatus.FAILED, message=str(exc))

    return run_closed_months(
        ctx,
        "billing_export.monthly_delivery",
        "la pré-facturation et la télétransmission",
        produce,
    )


def read_acknowledgements(ctx: JobContext, settings: BillingSettings | None = None) -> JobResult:
    try:
        settings = settings or load()
        if not settings.acks_enabled:
            return JobResult(
                RunStatus.SUCCESS,
                message=(
                    "Lecture des accusés désactivée : ESPPADOM n'en définit pas "
                    "([billing] acks_enabled pour un Département qui en envoie)"
                ),
            )
        with open_channel(ctx.data_dir) as channel:
            return services.read_acks(ctx.data_dir, channel, settings.remote_acks)
    except (MoneyRuleError, TransportError, SettingsError) as exc:
        return JobResult(RunStatus.FAILED, message=str(exc))


def read_invoices(ctx: JobContext, settings: BillingSettings | None = None) -> JobResult:
    try:
        settings = settings or load()
        with open_channel(ctx.data_dir) as channel:
            return invoices.read_invoices(ctx.session_factory, ctx.data_dir, channel, settings)
    except (MoneyRuleError, TransportError, SettingsError) as exc:
        return JobResult(RunStatus.FAILED, message=str(exc))


def _acks_enabled() -> bool:
    """Read at the composition root's call, not at import; a bad file is reported by the job."""
    try:
        return load_section(BillingSettings, "billing").acks_enabled
    except (SettingsError, MoneyRuleError):
        return False


def jobs() -> list[ScheduledJob]:
    declared = [
        ScheduledJob(
            name="billing_export.monthly_delivery",
            label="Pré-facturation et télétransmission ESPPADOM des mois clôturés",
            # Daily, after the service-done file (04:00): leaves the night after a close.
            cron={"hour": "6", "minute": "0"},
            run=monthly_delivery,
        ),
        ScheduledJob(
            name="billing_export.read_invoices",
            label="Réception des factures définitives du Département",
            cron={"hour": "7", "minute": "45"},
            run=read_invoices,
        ),
    ]
    if _acks_enabled():
        declared.append(acks_job())
    return declared


def acks_job() -> ScheduledJob:
    """Declared to the scheduler only when enabled; ``telegestion billing acks`` runs it anyway."""
    return ScheduledJob(
        name="billing_export.read_acks",
        label="Lecture des accusés de réception ESPPADOM",
        cron={"hour": "7,13,18", "minute": "15"},
        run=read_acknowledgements,
    )
