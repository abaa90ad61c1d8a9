"""The archive's scheduled job: last month's statements, after the correction deadline."""

from __future__ import annotations

import dataclasses

from archive import pipeline, retimestamp
from archive.settings import ArchiveSettings
from archive.settings import load as load_settings
from kernel import settings as settings_module
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from ledger.timeutil import Month, to_paris, utc_now


def run_monthly(ctx: JobContext) -> JobResult:
    """Archive a month: ``params["month"]`` ("2026-10") or the one before today's."""
    settings = load_settings()
    core = settings_module.core()
    core = dataclasses.replace(core, data_dir=ctx.data_dir)
    if "month" in ctx.params:
        year, month = (int(part) for part in str(ctx.params["month"]).split("-"))
    else:
        previous = Month.of(to_paris(utc_now()).date()).previous()
        year, month = previous.year, previous.month
    summary = pipeline.run_month(
        ctx.session_factory,
        core,
        settings,
        year,
        month,
        triggered_by=ctx.triggered_by,
        progress=ctx.progress,
    )
    return JobResult(
        RunStatus.SUCCESS,
        counts={
            "statements": summary.statements,
            "signed": summary.signed,
            "new_versions": summary.new_versions,
            "unchanged": summary.unchanged,
        },
        message=f"{summary.signed} état(s) signé(s) pour {year}-{month:02d}",
    )


def run_retimestamp(ctx: JobContext) -> JobResult:
    """Extend the timestamp chain of every archived file that is due (``archive.retimestamp``)."""
    settings = load_settings()
    core = dataclasses.replace(settings_module.core(), data_dir=ctx.data_dir)
    summary = retimestamp.retimestamp(
        ctx.session_factory, core, settings, actor=ctx.triggered_by, progress=ctx.progress
    )
    return JobResult(
        RunStatus.SUCCESS if not summary.missing else RunStatus.PARTIAL,
        counts={
            "verifies": summary.checked,
            "prolonges": summary.extended,
            "absents_ou_alteres": summary.missing,
        },
        message=f"{summary.extended} état(s) horodaté(s) à nouveau sur {summary.checked}",
    )


def jobs(settings: ArchiveSettings | None = None) -> list[ScheduledJob]:
    settings = settings or load_settings()
    return [
        ScheduledJob(
            name="archive.monthly_statements",
            label="États mensuels signés du mois précédent",
            # The day after the correction deadline, at night.
            cron={"day": str(settings.correction_deadline_day + 1), "hour": "2", "minute": "30"},
            run=run_monthly,
        ),
        ScheduledJob(
            name="archive.retimestamp",
            label="Horodatage renouvelé des états archivés",
            # Weekly: a file is due a year (archive.renew_before_days) before its
            # last timestamp ages out, so a missed week or two changes nothing.
            cron={"day_of_week": "sun", "hour": "3", "minute": "30"},
            run=run_retimestamp,
        ),
    ]
