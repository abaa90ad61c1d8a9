"""The scheduler: every package's jobs on their cron, each run in the run journal.

Composition root of the ``telegestion scheduler run`` process. APScheduler 3
keeps the schedule in the application's database (``SQLAlchemyJobStore``,
table ``flows_apscheduler_jobs``), so a restart keeps it; a run missed while
the service was down runs once when it comes back (``coalesce`` and no
misfire grace limit). Times are Europe/Paris.

Running a job by hand goes through the same ``run_job``, so the journal shows
both kinds of run the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kernel import leader
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.runs import JobRun
from ledger.timeutil import PARIS, utc_now

logger = logging.getLogger(__name__)

JOBSTORE_TABLE = "flows_apscheduler_jobs"
SCHEDULER_ACTOR = "scheduler"


def _relative(path: Path, data_dir: Path) -> str:
    try:
        return path.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def run_job(
    job: ScheduledJob,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    *,
    triggered_by: str = SCHEDULER_ACTOR,
    params: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> JobRun:
    """Run ``job`` now and journal it: a RUNNING row first, then its outcome.

    A job that raises is journalled as FAILED with the error; the error is not
    re-raised (the scheduler must go on). Returns the finished, detached row.
    """
    params = dict(params or {})
    with session_factory() as session, session.begin():
        run = JobRun(
            job_name=job.name,
            label=job.label,
            status=RunStatus.RUNNING,
            triggered_by=triggered_by,
            params={k: str(v) for k, v in params.items()},
            counts={},
            files=[],
            message="",
        )
        session.add(run)
    ctx = JobContext(
        session_factory,
        data_dir,
        triggered_by,
        params,
        _ProgressWriter(session_factory, run.id, progress),
    )
    logger.info("job %s started (run %s, by %s)", job.name, run.id, triggered_by)
    try:
        result = job.run(ctx)
    except Exception as exc:
        logger.exception("job %s failed", job.name)
        result = JobResult(RunStatus.FAILED, message=f"Erreur : {exc}"[:2000])
    with session_factory() as session, session.begin():
        run = session.get_one(JobRun, run.id)
        run.status = result.status
        run.counts = dict(result.counts)
        run.files = [_relative(p, data_dir) for p in result.files]
        run.message = result.message
        run.finished_at = utc_now()
    logger.info("job %s finished: %s %s", job.name, result.status.value, result.counts)
    return run


class _ProgressWriter:
    """Writes a running job's progress into its journal row, at most every few seconds.

    The row's counts read {"fait": done, "total": total} while the job runs
    (the run journal page shows counts as they are); the job's own counts
    replace them when it ends. Its own short transaction: the job's are its own.
    """

    EVERY_SECONDS = 2.0

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        run_id: int,
        also: Callable[[int, int], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.run_id = run_id
        #: A terminal's bar when the job is run by hand (``kernel.progress``).
        self.also = also
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.also is not None:
            self.also(done, total)
        now = time.monotonic()
        if done < total and now - self.last < self.EVERY_SECONDS:
            return
        self.last = now
        try:
            with self.session_factory() as session, session.begin():
                run = session.get(JobRun, self.run_id)
                if run is not None and run.status == RunStatus.RUNNING:
                    run.counts = {"fait": done, "total": total}
        except Exception:  # noqa: BLE001 - progress must never fail the job
            logger.warning("progress of run %s not written", self.run_id, exc_info=True)


@dataclass
class _Runtime:
    jobs: dict[str, ScheduledJob]
    session_factory: sessionmaker[Session]
    data_dir: Path


#: Set by ``Scheduler.start``; APScheduler stores jobs by reference to ``fire``.
_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def fire(name: str) -> None:
    """What APScheduler calls: run the registered job ``name`` and journal it."""
    runtime = _runtime
    if runtime is None or name not in runtime.jobs:
        logger.error("scheduled job %s is not registered in this process", name)
        return
    run_job(runtime.jobs[name], runtime.session_factory, runtime.data_dir)


def trigger_for(job: ScheduledJob) -> CronTrigger:
    return CronTrigger(timezone=PARIS, **job.cron)


class Scheduler:
    """APScheduler with the database job store, synchronised with ``jobs``."""

    def __init__(
        self,
        scheduler: BaseScheduler,
        engine: Engine,
        session_factory: sessionmaker[Session],
        data_dir: Path,
        jobs: list[ScheduledJob],
    ) -> None:
        self.scheduler = scheduler
        self.jobs = {job.name: job for job in jobs}
        self.session_factory = session_factory
        self.data_dir = data_dir
        scheduler.configure(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=PARIS,
        )

    def start(self) -> None:
        """Register this process's jobs, keep the stored next run times, then start.

        A stored job with an unchanged trigger keeps its next run time, so a run
        missed while the service was down fires once, now.
        """
        global _runtime
        with _runtime_lock:
            _runtime = _Runtime(self.jobs, self.session_factory, self.data_dir)
        self.scheduler.start(paused=True)
        stored = {job.id: job for job in self.scheduler.get_jobs()}
        for name, job in self.jobs.items():
            trigger = trigger_for(job)
            existing = stored.pop(name, None)
            if existing is None:
                self.scheduler.add_job(
                    fire, trigger, args=[name], id=name, name=job.label, replace_existing=True
                )
            elif str(existing.trigger) != str(trigger):
                self.scheduler.reschedule_job(name, trigger=trigger)
        for name in stored:
            logger.info("removing job %s, no longer provided", name)
            self.scheduler.remove_job(name)
        self.scheduler.resume()
        for job in self.scheduler.get_jobs():
            logger.info("job %s next run %s", job.id, job.next_run_time)

    def shutdown(self, wait: bool = True) -> None:
        global _runtime
        # Paused first: the scheduler thread then submits nothing while stopping.
        self.scheduler.pause()
        self.scheduler.shutdown(wait=wait)
        with _runtime_lock:
            _runtime = None

    def next_runs(self) -> dict[str, Any]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}


def serve(
    scheduler: Scheduler,
    engine: Engine,
    stop: threading.Event,
    *,
    round_seconds: float = 5.0,
    on_active: Callable[[], None] | None = None,
) -> int:
    """The scheduler process: stand by until this process holds the lock, then run.

    Every round writes the heartbeat (``kernel.leader``). The active process
    that loses its lock's connection stops at once (exit 1): the database may
    already have given the lock to the standby, and two schedulers must never
    run; its supervisor starts it again, as a standby.
    """
    leadership = leader.Leadership(engine, scheduler.data_dir)
    holder = leader.holder_name()
    started_at = utc_now()
    active = False
    code = 0
    try:
        while not stop.is_set():
            if not active and leadership.try_acquire():
                logger.info("scheduler %s is the active one", holder)
                scheduler.start()
                active = True
                if on_active is not None:
                    on_active()
            elif active and not leadership.still_held():
                logger.error("scheduler %s lost its lock; stopping", holder)
                code = 1
                break
            leader.beat(
                scheduler.session_factory,
                holder,
                leader.ACTIVE if active else leader.STANDBY,
                started_at,
            )
            stop.wait(round_seconds)
    finally:
        if active:
            scheduler.shutdown(wait=code == 0)
        leadership.release()
    return code
