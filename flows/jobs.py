"""The flows package's scheduled jobs (collected by ``kernel.scheduler``).

- ``flows.daily_import`` (06:00): fetch the planning software's files from the
  incoming folder, import each (one transaction each), then move it to
  ``processed/`` on the remote side. ``params``: ``file`` (a local file to
  import instead), ``full`` ("0" when a file is not complete).
- ``flows.daily_export`` (21:00): the day's timestamps, and the late changes to
  earlier days since the previous file. ``params``: ``date``.
- ``flows.monthly_export`` (daily, 04:00): the service done of each month
  closed since (``kernel.monthly``: a month not closed is never sent).
  ``params``: ``month`` ("2026-10").
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import exporter, formats
from flows.importer import ImportReport, import_file
from flows.settings import FlowsSettings, load
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.monthly import run_closed_months
from kernel.runs import JobRun
from kernel.settings import money
from kernel.transport import TransportError, open_transport, safe_name
from ledger.timeutil import Month, paris_day_bounds, to_paris, utc_now

logger = logging.getLogger(__name__)

#: Import order: people before what refers to them.
IMPORT_ORDER = {fmt.key: n for n, fmt in enumerate(formats.IN_FORMATS)}


def _today() -> date:
    return to_paris(utc_now()).date()


def inbox(data_dir: Path) -> Path:
    return data_dir / "flows" / "inbox"


def _sort_key(name: str) -> tuple[date, int, str]:
    found = formats.format_for_name(name)
    assert found is not None
    return found[1], IMPORT_ORDER[found[0].key], name


def _summarise(reports: list[ImportReport]) -> JobResult:
    counts: dict[str, int] = {"fichiers": len(reports)}
    for report in reports:
        for key, value in report.counts.items():
            counts[key] = counts.get(key, 0) + value
    refused = [r for r in reports if r.refused]
    counts["fichiers_refuses"] = len(refused)
    files = tuple(r.reject_path for r in reports if r.reject_path is not None)
    notes = [f"{r.file_name} : {r.refused}" for r in refused]
    notes += [f"{r.file_name} : {note}" for r in reports for note in r.notes]
    status = RunStatus.SUCCESS
    if refused or counts.get("rejetees") or notes:
        status = RunStatus.PARTIAL
    summary = (
        f"{len(reports)} fichier(s), {counts.get('creees', 0)} création(s), "
        f"{counts.get('modifiees', 0)} modification(s), {counts.get('terminees', 0)} fin(s), "
        f"{counts.get('rejetees', 0)} ligne(s) rejetée(s)"
    )
    if not reports:
        summary = "Aucun fichier à importer"
    return JobResult(status, counts, files, "; ".join([summary, *notes]))


def run_daily_import(ctx: JobContext, settings: FlowsSettings | None = None) -> JobResult:
    settings = settings or load()
    full = settings.full_daily_files
    if "full" in ctx.params:
        full = str(ctx.params["full"]).lower() not in ("0", "false", "non", "no")
    if "file" in ctx.params:
        path = Path(str(ctx.params["file"]))
        report = import_file(
            ctx.session_factory,
            path,
            ctx.data_dir,
            full=full,
            max_bytes=settings.max_file_bytes,
            progress=ctx.progress,
        )
        return _summarise([report])
    reports: list[ImportReport] = []
    with open_transport(settings, ctx.data_dir) as transport:
        names = transport.list(settings.incoming_dir)
        ignored = [n for n in names if formats.format_for_name(n) is None]
        for name in ignored:
            logger.warning("incoming file %r ignored: unknown name", name)
        day_dir = inbox(ctx.data_dir) / _today().isoformat()
        for name in sorted((n for n in names if n not in ignored), key=_sort_key):
            local = day_dir / safe_name(name)
            transport.get(settings.incoming_dir, name, local)
            report = import_file(
                ctx.session_factory,
                local,
                ctx.data_dir,
                full=full,
                max_bytes=settings.max_file_bytes,
                progress=ctx.progress,
            )
            reports.append(report)
            # Committed (or refused with its reject file): now the source can move.
            transport.mark_processed(settings.incoming_dir, name)
    result = _summarise(reports)
    if ignored:
        message = f"{result.message}; {len(ignored)} fichier(s) au nom inconnu laissé(s) en place"
        return JobResult(RunStatus.PARTIAL, result.counts, result.files, message)
    return result


def _send(settings: FlowsSettings, data_dir: Path, result: exporter.ExportResult) -> JobResult:
    """Upload an exported file and say so in the run journal."""
    with open_transport(settings, data_dir) as transport:
        digest = transport.put(result.path, settings.outgoing_dir)
    return JobResult(
        RunStatus.SUCCESS,
        {"lignes": result.rows},
        (result.path,),
        f"{result.path.name} : {result.rows} ligne(s) envoyée(s) (sha256 {digest[:12]})",
    )


#: A file's late changes start where the previous file's ended, less this margin:
#: a change committed while the previous file was being written is not missed.
LATE_MARGIN = timedelta(minutes=10)
#: Run-journal counter of the instant (Unix seconds) up to which late changes were read.
UNTIL_KEY = "modifications_jusqua"


def _last_until(session: Session) -> datetime | None:
    for counts in session.scalars(
        select(JobRun.counts)
        .where(JobRun.job_name == "flows.daily_export", JobRun.status == RunStatus.SUCCESS)
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .limit(20)
    ):
        if counts and UNTIL_KEY in counts:
            return datetime.fromtimestamp(int(counts[UNTIL_KEY]), UTC)
    return None


def run_daily_export(ctx: JobContext, settings: FlowsSettings | None = None) -> JobResult:
    """The day's timestamps and every late change to an earlier day since the last file."""
    settings = settings or load()
    day = date.fromisoformat(str(ctx.params["date"])) if "date" in ctx.params else _today()
    until = utc_now()
    with ctx.session_factory() as session:
        previous = _last_until(session)
        # The first file ever: the changes made since the start of its day.
        since = previous - LATE_MARGIN if previous else paris_day_bounds(day)[0]
        result = exporter.export_timestamps(
            session, day, ctx.data_dir, changes_since=since, until=until
        )
    sent = _send(settings, ctx.data_dir, result)
    counts = {
        **sent.counts,
        "modifications_tardives": result.late,
        UNTIL_KEY: int(until.timestamp()),
    }
    message = f"{sent.message}, dont {result.late} modification(s) tardive(s)"
    return JobResult(sent.status, counts, sent.files, message)


def run_monthly_export(ctx: JobContext, settings: FlowsSettings | None = None) -> JobResult:
    """The service-done file of each closed month not sent yet (or of ``params["month"]``).

    Revision 1 (the first close) is ``prestations_AAAAMM.csv``; after a reopen
    and a new close, revision N is ``prestations_AAAAMM_vN.csv``, which
    replaces every line sent before for that month (docs/flows/prestations.md).
    """
    settings = settings or load()
    rules = money().rules

    def produce(month: Month, revision: int) -> JobResult:
        with ctx.session_factory() as session:
            result = exporter.export_service_done(
                session, month.year, month.month, ctx.data_dir, rules, revision=revision
            )
        return _send(settings, ctx.data_dir, result)

    return run_closed_months(ctx, "flows.monthly_export", "le fichier du service fait", produce)


def resend(
    run_files: list[str], data_dir: Path, settings: FlowsSettings | None = None
) -> list[str]:
    """Upload again the output files of a past run (paths relative to the data dir)."""
    settings = settings or load()
    out = exporter.outbox(data_dir).resolve()
    sent = []
    with open_transport(settings, data_dir) as transport:
        for relative in run_files:
            path = (data_dir / relative).resolve()
            if path.parent != out:
                continue
            if not path.is_file():
                raise TransportError(f"fichier introuvable : {relative}")
            transport.put(path, settings.outgoing_dir)
            sent.append(relative)
    return sent


def jobs() -> list[ScheduledJob]:
    return [
        ScheduledJob(
            "flows.daily_import",
            "Import quotidien du logiciel de planification",
            {"hour": "6", "minute": "0"},
            run_daily_import,
        ),
        ScheduledJob(
            "flows.daily_export",
            "Export quotidien des horodatages",
            {"hour": "21", "minute": "0"},
            run_daily_export,
        ),
        ScheduledJob(
            "flows.monthly_export",
            "Export du service fait des mois clôturés",
            # Daily: the file leaves the night after a close (kernel.monthly).
            {"hour": "4", "minute": "0"},
            run_monthly_export,
        ),
    ]
