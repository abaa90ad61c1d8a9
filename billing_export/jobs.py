"""Scheduled jobs: the monthly teletransmission and the reading of acknowledgements."""

from __future__ import annotations

from billing_export import services
from billing_export.outbox import open_channel
from billing_export.settings import BillingSettings, load
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.settings import SettingsError
from kernel.transport import TransportError
from ledger.money import MoneyRuleError
from ledger.timeutil import Month, paris_date, utc_now


def _month(ctx: JobContext) -> tuple[int, int]:
    if "month" in ctx.params:
        return services.parse_month(str(ctx.params["month"]))
    previous = Month.of(paris_date(utc_now())).previous()
    return previous.year, previous.month


def monthly_delivery(ctx: JobContext, settings: BillingSettings | None = None) -> JobResult:
    try:
        settings = settings or load()
        year, month = _month(ctx)
    except (services.BillingError, MoneyRuleError, SettingsError) as exc:
        return JobResult(RunStatus.FAILED, message=str(exc))
    funder = ctx.params.get("funder")
    try:
        with open_channel(ctx.data_dir) as channel:
            return services.send_month(
                ctx.session_factory,
                ctx.data_dir,
                settings,
                channel,
                year,
                month,
                only_funder=str(funder) if funder else None,
                triggered_by=ctx.triggered_by,
            )
    except (services.BillingError, TransportError, SettingsError) as exc:
        return JobResult(RunStatus.FAILED, message=str(exc))


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
            label="Télétransmission ESPPADOM au Département (mois précédent)",
            # The 2nd, after the planning software's monthly service-done export of the 1st.
            cron={"day": "2", "hour": "6", "minute": "0"},
            run=monthly_delivery,
        ),
        ScheduledJob(
            name="billing_export.read_acks",
            label="Lecture des accusés de réception ESPPADOM",
            cron={"hour": "7,13,18", "minute": "15"},
            run=read_acknowledgements,
        ),
    ]
