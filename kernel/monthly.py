"""Monthly outputs come from closed months only (``ledger.closing``).

Each monthly job (the service-done file, the pre-billing and teletransmission,
the signed statements) runs through ``run_closed_months``:

* asked for a month (``params["month"]``, a run by hand): if that month is not
  closed it does nothing and says so in the run journal; if it is, it produces
  the output of the month's current revision;
* scheduled (no month): it produces every closed month whose current
  revision this job has not produced yet, oldest first. Scheduled daily, the
  outputs leave the night after a close, and again after a reopen and a new
  close (revision 2 is a correction of revision 1).

What was produced is read from the run journal itself: a successful run
counts ``revision_<AAAA-MM>`` = the revision it produced.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.jobs import JobContext, JobResult, RunStatus
from kernel.runs import JobRun
from ledger.closures import closed_revision
from ledger.models import MonthClosure
from ledger.timeutil import Month

#: Produce one month's output for one revision (1 after the first close).
Produce = Callable[[Month, int], JobResult]

DONE = (RunStatus.SUCCESS, RunStatus.PARTIAL)


def revision_key(month: Month) -> str:
    return f"revision_{month}"


def not_closed(month: Month, what: str) -> JobResult:
    return JobResult(
        RunStatus.SUCCESS,
        {"mois_non_clotures": 1},
        message=(
            f"Mois de {month.label} non clôturé : rien n'est produit ({what}). "
            "Ce sera fait après la clôture du mois par un référent central."
        ),
    )


def produced(session: Session, job_name: str) -> dict[Month, set[int]]:
    """The revisions of each month that earlier successful runs of this job produced."""
    found: dict[Month, set[int]] = {}
    for counts in session.scalars(
        select(JobRun.counts).where(JobRun.job_name == job_name, JobRun.status.in_(DONE))
    ):
        for key, value in (counts or {}).items():
            if key.startswith("revision_"):
                try:
                    month = Month.parse(key.removeprefix("revision_"))
                except ValueError:
                    continue
                found.setdefault(month, set()).add(int(value))
    return found


def pending(session: Session, job_name: str) -> list[tuple[Month, int]]:
    """Closed months whose current revision this job has not produced yet, oldest first."""
    done = produced(session, job_name)
    rows = session.execute(
        select(MonthClosure.year, MonthClosure.month, MonthClosure.revision)
        .where(MonthClosure.closed.is_(True))
        .order_by(MonthClosure.year, MonthClosure.month)
    ).all()
    return [
        (Month(year, month), revision)
        for year, month, revision in rows
        if revision not in done.get(Month(year, month), set())
    ]


def _tagged(result: JobResult, month: Month, revision: int) -> JobResult:
    if result.status not in DONE:
        return result
    counts = {**result.counts, revision_key(month): revision}
    return JobResult(result.status, counts, result.files, result.message)


def run_closed_months(ctx: JobContext, job_name: str, what: str, produce: Produce) -> JobResult:
    """Run ``produce`` for the asked month if closed, else for every closed month pending."""
    if "month" in ctx.params:
        try:
            month = Month.parse(str(ctx.params["month"]))
        except ValueError as exc:
            return JobResult(RunStatus.FAILED, message=str(exc))
        with ctx.session_factory() as session:
            revision = closed_revision(session, month)
        if revision is None:
            return not_closed(month, what)
        return _tagged(produce(month, revision), month, revision)
    with ctx.session_factory() as session:
        todo = pending(session, job_name)
    if not todo:
        return JobResult(
            RunStatus.SUCCESS, {"mois": 0}, message=f"Aucun mois clôturé en attente : {what}."
        )
    results = [(month, revision, produce(month, revision)) for month, revision in todo]
    counts: dict[str, int] = {"mois": len(results)}
    files: list = []  # type: ignore[type-arg]
    messages: list[str] = []
    status = RunStatus.SUCCESS
    for month, revision, result in results:
        for key, value in result.counts.items():
            counts[key] = counts.get(key, 0) + value
        if result.status in DONE:
            counts[revision_key(month)] = revision
        if result.status is RunStatus.FAILED:
            status = RunStatus.FAILED
        elif result.status is RunStatus.PARTIAL and status is RunStatus.SUCCESS:
            status = RunStatus.PARTIAL
        files.extend(result.files)
        messages.append(f"{month} (révision {revision}) : {result.message}")
    if status is RunStatus.FAILED and any(r.status in DONE for _m, _r, r in results):
        # Some months went out: their revision is counted, the others run again next time.
        status = RunStatus.PARTIAL
    return JobResult(status, counts, tuple(files), " ; ".join(messages))
