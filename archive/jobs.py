"""The archive's scheduled job: the statements of each closed month (``kernel.monthly``)."""

from __future__ import annotations

import dataclasses

from archive import pipeline, retimestamp
from archive.settings import ArchiveSettings
from archive.settings import load as load_settings
from kernel import settings as settings_module
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.monthly import run_closed_months
from ledger.timeutil import Month


def run_monthly(ctx: JobContext) -> JobResult:
    """Sign the statements of each closed month not archived yet (or of ``params["month"]``).

    A month that is not closed is not signed (``kernel.monthly``). After a
    reopen and a new close, a beneficiary whose figures changed gets version
    N + 1 of the statement, linked to the one it replaces (``supersedes_id``);
    the others keep theirs.
    """
    settings = load_settings()
    core = settings_module.core()
    core = dataclasses.replace(core, data_dir=ctx.data_dir)

    def produce(month: Month, revision: int) -> JobResult:
        summary = pipeline.run_month(
            ctx.session_factory,
            core,
            settings,
            month.year,
            month.month,
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
            message=(
                f"{summary.signed} état(s) signé(s) pour {month} (révision {revision} du mois), "
                f"dont {summary.new_versions} nouvelle(s) version(s)"
            ),
        )

    return run_closed_months(ctx, "archive.monthly_statements", "les états mensuels", produce)


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
            label="États mensuels signés des mois clôturés",
            # Daily at night: the statements are signed the night after a close.
            cron={"hour": "2", "minute": "30"},
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
