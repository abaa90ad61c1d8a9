"""``telegestion scheduler run`` and ``telegestion jobs list|run|resend``."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from config.jobs import collect_jobs
from flows import jobs as flows_jobs
from kernel import settings as settings_module
from kernel.jobs import RunStatus
from kernel.progress import Progress
from kernel.runs import JobRun
from kernel.scheduler import Scheduler, run_job, serve, trigger_for
from ledger.db import make_engine, make_session_factory
from ledger.timeutil import to_paris, utc_now


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"paramètre invalide {pair!r} : attendu clé=valeur")
        params[key] = value
    return params


def _cmd_scheduler_run(args: argparse.Namespace) -> int:
    core = settings_module.core()
    url = core.effective_database_url
    engine = make_engine(url)
    scheduler = Scheduler(
        BackgroundScheduler(),
        engine,
        make_session_factory(engine),
        core.data_dir,
        collect_jobs(),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def _print_next_runs() -> None:
        for name, when in sorted(scheduler.next_runs().items()):
            print(f"{name} : prochaine exécution {when}", flush=True)

    print("planificateur en attente du verrou (un seul actif à la fois)", flush=True)
    code = serve(scheduler, engine, stop, on_active=_print_next_runs)
    engine.dispose()
    return code


def _cmd_list(args: argparse.Namespace) -> int:
    now = to_paris(utc_now())
    for job in collect_jobs():
        next_run = trigger_for(job).get_next_fire_time(None, now)
        print(f"{job.name:<32} {job.label} — prochaine : {next_run:%Y-%m-%d %H:%M}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    found = {job.name: job for job in collect_jobs()}
    if args.name not in found:
        print(f"tâche inconnue : {args.name} (voir « telegestion jobs list »)")
        return 2
    core = settings_module.core()
    engine = make_engine(core.effective_database_url)
    run = run_job(
        found[args.name],
        make_session_factory(engine),
        core.data_dir,
        triggered_by=args.by,
        params=_parse_params(args.param),
        progress=Progress(found[args.name].label),
    )
    engine.dispose()
    print(f"exécution {run.id} : {run.status_label} — {run.message}")
    for key, value in run.counts.items():
        print(f"  {key} : {value}")
    for path in run.files:
        print(f"  fichier : {path}")
    return 0 if run.status in (RunStatus.SUCCESS, RunStatus.PARTIAL) else 1


def _cmd_resend(args: argparse.Namespace) -> int:
    core = settings_module.core()
    engine = make_engine(core.effective_database_url)
    with make_session_factory(engine)() as session:
        run = session.get(JobRun, args.run_id)
        if run is None:
            print(f"exécution {args.run_id} introuvable")
            return 2
        files = list(run.files)
    sent = flows_jobs.resend(files, core.data_dir)
    engine.dispose()
    if not sent:
        print(f"exécution {args.run_id} : aucun fichier de sortie à renvoyer")
        return 1
    for relative in sent:
        print(f"renvoyé : {relative}")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    core = settings_module.core()
    engine = make_engine(core.effective_database_url)
    with make_session_factory(engine)() as session:
        runs = session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(args.limit))
        for run in runs:
            print(
                f"{run.id:>6} {to_paris(run.started_at):%Y-%m-%d %H:%M} {run.job_name:<24} "
                f"{run.status_label:<20} {run.message}"
            )
    engine.dispose()
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    scheduler = commands.add_parser("scheduler", help="the job scheduler")
    scheduler_sub = scheduler.add_subparsers(dest="scheduler_command", required=True)
    sub = scheduler_sub.add_parser("run", help="run the scheduler service (foreground)")
    sub.set_defaults(needs_schema=True, handler=_cmd_scheduler_run)

    jobs = commands.add_parser("jobs", help="scheduled jobs: list, run now, re-send")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    sub = jobs_sub.add_parser("list", help="list the jobs and their next run")
    sub.set_defaults(needs_schema=True, handler=_cmd_list)
    sub = jobs_sub.add_parser("run", help="run a job now (journalled)")
    sub.add_argument("name")
    sub.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    sub.add_argument("--by", default="cli", help="who runs it (journal)")
    sub.set_defaults(needs_schema=True, handler=_cmd_run)
    sub = jobs_sub.add_parser("resend", help="send again the output files of a past run")
    sub.add_argument("run_id", type=int)
    sub.set_defaults(needs_schema=True, handler=_cmd_resend)
    sub = jobs_sub.add_parser("history", help="the latest runs of the journal")
    sub.add_argument("--limit", type=int, default=20)
    sub.set_defaults(needs_schema=True, handler=_cmd_history)
