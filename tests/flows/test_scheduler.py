"""The scheduler: run journal, persistence of the schedule, a missed run runs once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, MetaData, Table, func, select
from sqlalchemy.orm import Session, sessionmaker

from config.jobs import collect_jobs
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.runs import JobRun
from kernel.scheduler import JOBSTORE_TABLE, Scheduler, run_job
from ledger.timeutil import PARIS, as_utc, utc_now


@pytest.fixture
def jobstore_engine(engine: Engine) -> Iterator[Engine]:
    yield engine
    meta = MetaData()
    meta.reflect(engine, only=lambda name, _: name == JOBSTORE_TABLE)
    if JOBSTORE_TABLE in meta.tables:
        Table(JOBSTORE_TABLE, meta).drop(engine)


def counting_job(name: str = "test.count", fail: bool = False) -> ScheduledJob:
    def run(ctx: JobContext) -> JobResult:
        if fail:
            raise ValueError("le fichier distant est introuvable")
        out = ctx.data_dir / "out.csv"
        out.write_text("x")
        return JobResult(RunStatus.PARTIAL, {"lignes": 3}, (out,), "3 lignes, 1 rejet")

    return ScheduledJob(name, "Tâche de test", {"hour": "6", "minute": "0"}, run)


def test_a_run_is_journalled_with_counts_files_and_who(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    run = run_job(counting_job(), session_factory, data_dir, triggered_by="marie", params={"a": 1})
    stored = session.get_one(JobRun, run.id)
    assert stored.status is RunStatus.PARTIAL
    assert stored.counts == {"lignes": 3}
    assert stored.files == ["out.csv"]
    assert stored.triggered_by == "marie"
    assert stored.params == {"a": "1"}
    assert stored.finished_at is not None and as_utc(stored.finished_at) >= as_utc(
        stored.started_at
    )
    assert stored.status_label == "Réussi avec rejets"


def test_a_running_job_shows_its_progress_in_the_journal(
    session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    seen: list[dict[str, int]] = []

    def look() -> None:
        # What the run journal page reads, from another session, while the job runs.
        with session_factory() as other:
            row = other.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
            assert row is not None and row.status is RunStatus.RUNNING
            seen.append(dict(row.counts))

    def run(ctx: JobContext) -> JobResult:
        ctx.progress(1, 3)
        look()
        ctx.progress(2, 3)  # within two seconds of the last: not written
        look()
        ctx.progress(3, 3)  # the end is always written
        look()
        return JobResult(RunStatus.SUCCESS, {"lignes": 3})

    done = run_job(
        ScheduledJob("test.long", "Longue", {"hour": "1"}, run), session_factory, data_dir
    )
    assert seen == [
        {"fait": 1, "total": 3},
        {"fait": 1, "total": 3},
        {"fait": 3, "total": 3},
    ]
    assert done.counts == {"lignes": 3}  # the job's own counts replace the progress


def test_a_failing_job_is_journalled_as_failed(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    run = run_job(counting_job(fail=True), session_factory, data_dir)
    stored = session.get_one(JobRun, run.id)
    assert stored.status is RunStatus.FAILED
    assert "introuvable" in stored.message
    assert stored.finished_at is not None


def test_every_package_job_is_collected_once() -> None:
    names = [job.name for job in collect_jobs()]
    assert {"flows.daily_import", "flows.daily_export", "flows.monthly_export"} <= set(names)
    assert len(names) == len(set(names))


def _wait_for_runs(session_factory: sessionmaker[Session], expected: int) -> int:
    """Poll the journal until ``expected`` finished runs exist (or give up after a while)."""
    done = threading.Event()
    count = 0
    for _ in range(600):
        with session_factory() as s:
            count = (
                s.scalar(
                    select(func.count()).select_from(JobRun).where(JobRun.finished_at.is_not(None))
                )
                or 0
            )
        if count >= expected:
            return count
        done.wait(0.05)
    return count


def test_restart_keeps_the_schedule_and_a_missed_run_runs_once(
    jobstore_engine: Engine, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    job = counting_job()
    first = Scheduler(BackgroundScheduler(), jobstore_engine, session_factory, data_dir, [job])
    first.start()
    planned = first.next_runs()["test.count"]
    assert planned.tzinfo is not None and planned.astimezone(PARIS).hour == 6
    first.shutdown()

    # The service is down over three mornings: the stored next run is long past.
    # (Written to the store directly: no scheduler thread may run it meanwhile.)
    store = SQLAlchemyJobStore(engine=jobstore_engine, tablename=JOBSTORE_TABLE)
    store.start(BackgroundScheduler(timezone=PARIS), "default")
    stored = store.lookup_job("test.count")
    assert stored is not None
    stored.next_run_time = utc_now() - timedelta(days=3)
    store.update_job(stored)

    second = Scheduler(BackgroundScheduler(), jobstore_engine, session_factory, data_dir, [job])
    second.start()
    try:
        assert _wait_for_runs(session_factory, 1) == 1
        # Rescheduled for the next morning, not run again for each missed day.
        next_run = second.next_runs()["test.count"]
        assert next_run > datetime.now(PARIS)
        assert next_run.astimezone(PARIS).hour == 6
    finally:
        second.shutdown()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(JobRun)) == 1
        run = s.scalars(select(JobRun)).one()
        assert (run.triggered_by, run.status) == ("scheduler", RunStatus.PARTIAL)


def test_a_changed_cron_is_applied_on_restart(
    jobstore_engine: Engine, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    job = counting_job()
    first = Scheduler(BackgroundScheduler(), jobstore_engine, session_factory, data_dir, [job])
    first.start()
    first.shutdown()
    moved = ScheduledJob(job.name, job.label, {"hour": "7", "minute": "30"}, job.run)
    second = Scheduler(BackgroundScheduler(), jobstore_engine, session_factory, data_dir, [moved])
    second.start()
    try:
        when = second.next_runs()["test.count"].astimezone(PARIS)
        assert (when.hour, when.minute) == (7, 30)
    finally:
        second.shutdown()
