"""Scheduled jobs: the monthly teletransmission and the reading of acknowledgements."""

from __future__ import annotations

from billing_export import services
from billing_export.outbox import open_channel
from billing_export.settings import BillingSettings, load
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.monthly import run_closed_months
from kernel.settings import SettingsError
from kernel.transport import TransportError
from ledger.money import MoneyRuleError
from ledger.timeutil import Month


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

    def produce(month: Month, revision: int) -> JobResult:
        assert settings is not None
        try:
            with open_channel(ctx.data_dir) as channel:
                return services.send_month(
                    ctx.session_factory,
                    ctx.data_dir,
                    settings,
                    channel,
                    month.year,
                    month.month,
                    only_funder=str(funder) if funder else None,
                    triggered_by=ctx.triggered_by,
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
        with open_channel(ctx.data_dir) as channel:
            return services.read_acks(ctx.data_dir, channel, settings.remote_acks)
    except (MoneyRuleError, TransportError, SettingsError) as exc:
        return JobResult(RunStatus.FAILED, message=str(exc))


def jobs() -> list[ScheduledJob]:
    return [
        ScheduledJob(
            name="billing_export.monthly_delivery",
            label="Pré-facturation et télétransmission ESPPADOM des mois clôturés",
            # Daily, after the service-done file (04:00): leaves the night after a close.
            cron={"hour": "6", "minute": "0"},
            run=monthly_delivery,
        ),
        ScheduledJob(
            name="billing_export.read_acks",
            label="Lecture des accusés de réception ESPPADOM",
            cron={"hour": "7,13,18", "minute": "15"},
            run=read_acknowledgements,
        ),
    ]
