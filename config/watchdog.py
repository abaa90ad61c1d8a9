"""``telegestion watchdog run``: check each part every minute, alert on a change.

It lives at the composition root because it reads every package's settings
(the IVR's health port and spools, the archive store) and the run journal of
every package's jobs. What it does with the results, states and mails, is
``kernel.alerts``. It runs as its own process (supervised by ``telegestion
run``, or its own systemd unit), not as a scheduled job: it must tell when the
scheduler itself is dead.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from config.jobs import collect_jobs
from ivr import settings as ivr_settings
from ivr.spool import Spool
from kernel import alerts, leader
from kernel import settings as settings_module
from kernel.alerts import AlertSettings, CheckResult
from kernel.jobs import RunStatus, ScheduledJob
from kernel.runs import JobRun
from kernel.scheduler import trigger_for
from ledger.db import make_engine, make_session_factory
from ledger.models import CallEvent
from ledger.timeutil import as_utc, to_paris, utc_now

logger = logging.getLogger(__name__)

#: Jobs whose partial runs mean lines or files were rejected.
IMPORT_JOBS = ("flows.daily_import",)


@dataclass(frozen=True)
class Targets:
    """What the watchdog looks at, from every package's settings."""

    ivr_health_url: str | None
    spools: tuple[Path, ...]
    archive_dir: Path
    jobs: tuple[ScheduledJob, ...]


def targets() -> Targets:
    core = settings_module.core()
    ivr = ivr_settings.load()
    health = f"http://127.0.0.1:{ivr.health_port}/health" if ivr.health_port else None
    return Targets(
        ivr_health_url=health,
        spools=(ivr.effective_spool_dir() / "ari.spool", ivr.dialplan_spool),
        archive_dir=core.data_dir / "archive" / "files",
        jobs=tuple(collect_jobs()),
    )


def _fmt(moment: datetime) -> str:
    return f"{to_paris(moment):%d/%m/%Y %H:%M}"


class Watchdog:
    """One round of checks: ``results()``; the loop: ``run(stop)``."""

    def __init__(
        self,
        settings: AlertSettings,
        session_factory: sessionmaker[Session],
        targets: Targets,
        alerter: alerts.Alerter,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.targets = targets
        self.alerter = alerter
        self.clock = clock
        self.started_at = clock()

    # --- the checks -------------------------------------------------------------

    def check_ivr(self) -> list[CheckResult]:
        """Asterisk and ARI through the IVR's own health endpoint (``ivr.health``)."""
        asterisk, ivr = "asterisk", "ivr"
        url = self.targets.ivr_health_url
        if url is None:
            return []
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                status = json.loads(response.read())
        except urllib.error.HTTPError as error:
            # 503: some part is down; the body still says which.
            try:
                status = json.loads(error.read())
            except ValueError:
                status = None
        except (OSError, ValueError) as error:
            detail = f"Le serveur vocal ne répond pas ({url} : {error})."
            return [
                CheckResult(ivr, "Serveur vocal (SVI)", False, detail),
            ]
        if not isinstance(status, dict):
            return [CheckResult(ivr, "Serveur vocal (SVI)", False, "Réponse de santé illisible.")]
        asterisk_ok = bool(status.get("asterisk")) and bool(status.get("ari"))
        events_ok = bool(status.get("events"))
        return [
            CheckResult(
                asterisk,
                "Asterisk et sa connexion ARI",
                asterisk_ok,
                ""
                if asterisk_ok
                else (
                    "Asterisk ne répond pas"
                    f" (AMI : {'oui' if status.get('asterisk') else 'non'},"
                    f" ARI : {'oui' if status.get('ari') else 'non'}) :"
                    " les appels n'aboutissent plus à l'application."
                ),
            ),
            CheckResult(
                ivr,
                "Serveur vocal (SVI)",
                events_ok,
                "" if events_ok else "Le serveur vocal ne reçoit pas les événements d'Asterisk.",
            ),
        ]

    def check_database(self) -> CheckResult:
        try:
            with self.session_factory() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            return CheckResult(
                "database", "Base de données", False, f"Inaccessible : {type(error).__name__}."
            )
        return CheckResult("database", "Base de données", True)

    def check_spools(self) -> CheckResult:
        """Calls kept on disk while the database was down must be replayed soon after."""
        late = timedelta(minutes=self.settings.spool_max_minutes)
        now = self.clock()
        stuck = []
        for path in self.targets.spools:
            spool = Spool(path)
            if not spool.has_pending():
                continue
            try:
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except OSError:
                continue
            if now - written >= late:
                stuck.append(f"{path.name} ({path.stat().st_size - spool.offset()} octets)")
        return CheckResult(
            "spools",
            "Appels en attente d'enregistrement (spools)",
            not stuck,
            (
                "Non rejoués depuis plus de "
                f"{self.settings.spool_max_minutes} min : " + ", ".join(stuck)
            )
            if stuck
            else "",
        )

    def check_calls(self, session: Session) -> CheckResult | None:
        """Calls reaching the application: none for hours in service hours is an incident."""
        minutes = self.settings.calls_silence_minutes
        if not minutes:
            return None
        now = self.clock()
        first, last = self.settings.service_hours()
        latest = session.scalar(select(func.max(CallEvent.received_at)))
        label = "Appels reçus par l'application"
        if latest is None:
            return CheckResult("calls", label, True, "Aucun appel reçu à ce jour.")
        latest = as_utc(latest)
        silent = now - latest >= timedelta(minutes=minutes)
        in_hours = first <= to_paris(now).hour < last
        if silent and in_hours:
            return CheckResult("calls", label, False, f"Aucun appel reçu depuis le {_fmt(latest)}.")
        return CheckResult("calls", label, True, f"Dernier appel le {_fmt(latest)}.")

    def check_scheduler(self, session: Session) -> CheckResult:
        row = leader.active_heartbeat(session)
        label = "Planificateur des tâches"
        limit = timedelta(seconds=self.settings.heartbeat_max_seconds)
        if row is None:
            return CheckResult("scheduler", label, False, "Aucun planificateur actif n'a signalé.")
        beat = as_utc(row.beat_at)
        if self.clock() - beat > limit:
            return CheckResult(
                "scheduler", label, False, f"Dernier signe de vie le {_fmt(beat)} ({row.holder})."
            )
        return CheckResult("scheduler", label, True, f"Actif : {row.holder}.")

    def check_jobs(self, session: Session) -> list[CheckResult]:
        """Each job: its last run failed, or its next run is late and has not started."""
        grace = timedelta(minutes=self.settings.job_grace_minutes)
        now = self.clock()
        results = []
        for job in self.targets.jobs:
            last = session.scalars(
                select(JobRun)
                .where(JobRun.job_name == job.name)
                .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                .limit(1)
            ).first()
            label = f"Tâche « {job.label} »"
            name = f"job:{job.name}"
            if last is None:
                results.append(CheckResult(name, label, True, "Jamais exécutée."))
                continue
            started = as_utc(last.started_at)
            if last.status is RunStatus.FAILED:
                results.append(
                    CheckResult(
                        name,
                        label,
                        False,
                        f"Échec de l'exécution {last.id} du {_fmt(started)} : {last.message}"[
                            :1000
                        ],
                    )
                )
                continue
            due = trigger_for(job).get_next_fire_time(None, to_paris(started))
            if due is not None and now - due > grace:
                results.append(
                    CheckResult(
                        name,
                        label,
                        False,
                        f"En retard : prévue le {_fmt(due)}, dernière exécution le "
                        f"{_fmt(started)}.",
                    )
                )
                continue
            results.append(
                CheckResult(name, label, True, f"Dernière exécution le {_fmt(started)}.")
            )
        return results

    def check_rejects(self, session: Session) -> list[CheckResult]:
        results = []
        for job_name in IMPORT_JOBS:
            if job_name not in {j.name for j in self.targets.jobs}:
                continue
            last = session.scalars(
                select(JobRun)
                .where(JobRun.job_name == job_name, JobRun.status != RunStatus.RUNNING)
                .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                .limit(1)
            ).first()
            label = "Rejets du dernier import"
            if last is None or last.status is not RunStatus.PARTIAL:
                results.append(CheckResult(f"rejects:{job_name}", label, True))
                continue
            counts = last.counts or {}
            detail = (
                f"Import du {_fmt(as_utc(last.started_at))} (exécution {last.id}) : "
                f"{counts.get('rejetees', 0)} ligne(s) rejetée(s), "
                f"{counts.get('fichiers_refuses', 0)} fichier(s) refusé(s). {last.message}"
            )
            if last.files:
                detail += " Fichiers de rejets : " + ", ".join(last.files)
            results.append(CheckResult(f"rejects:{job_name}", label, False, detail[:2000]))
        return results

    def check_disk(self) -> CheckResult:
        path = self.targets.archive_dir
        while not path.exists() and path != path.parent:
            path = path.parent
        usage = shutil.disk_usage(path)
        free = 100.0 * usage.free / usage.total if usage.total else 0.0
        ok = free >= self.settings.disk_min_free_percent
        detail = f"{free:.1f} % libre ({usage.free // 2**20} Mio) sur {path}."
        return CheckResult("disk", "Espace disque de l'archive", ok, detail)

    def results(self) -> list[CheckResult]:
        found: list[CheckResult] = [*self.check_ivr(), self.check_database(), self.check_spools()]
        if found[-2].ok:
            try:
                with self.session_factory() as session:
                    calls = self.check_calls(session)
                    if calls is not None:
                        found.append(calls)
                    found.append(self.check_scheduler(session))
                    found += self.check_jobs(session)
                    found += self.check_rejects(session)
            except SQLAlchemyError:
                logger.warning("checks that read the database skipped", exc_info=True)
        found.append(self.check_disk())
        return found

    def round(self) -> list[alerts.Change]:
        return self.alerter.observe(self.results())

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.round()
            except Exception:  # noqa: BLE001 - the watchdog must outlive any one check
                logger.exception("watchdog round failed")
            stop.wait(self.settings.interval_seconds)


def report_process(names: list[str], ok: bool, detail: str) -> None:
    """A supervisor's word on parts it gave up restarting (down) or started (up).

    Up is said at each start, so that an incident a supervisor or systemd raised
    ends (with its recovery mail) when the part is started again.
    """
    core = settings_module.core()
    engine = make_engine(core.effective_database_url)
    try:
        factory = make_session_factory(engine)
        alerter = alerts.Alerter(alerts.load(), factory, core.organisation_name)
        alerter.observe(
            [CheckResult(f"process:{name}", f"Processus « {name} »", ok, detail) for name in names]
        )
    finally:
        engine.dispose()


def _cmd_run(args: argparse.Namespace) -> int:
    core = settings_module.core()
    settings = alerts.load()
    engine = make_engine(core.effective_database_url)
    session_factory = make_session_factory(engine)
    watchdog = Watchdog(
        settings,
        session_factory,
        targets(),
        alerts.Alerter(settings, session_factory, core.organisation_name),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not settings.addresses:
        logger.warning("no [alerts] recipients: incidents only show in the extranet")
    watchdog.run(stop)
    engine.dispose()
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    """One round, printed (and recorded, and mailed, like any round)."""
    core = settings_module.core()
    settings = alerts.load()
    engine = make_engine(core.effective_database_url)
    session_factory = make_session_factory(engine)
    watchdog = Watchdog(
        settings,
        session_factory,
        targets(),
        alerts.Alerter(settings, session_factory, core.organisation_name),
    )
    results = watchdog.results()
    watchdog.alerter.observe(results)
    engine.dispose()
    for result in results:
        print(f"{'OK ' if result.ok else 'KO '} {result.label} — {result.detail}")
    return 0 if all(r.ok for r in results) else 1


def _cmd_report(args: argparse.Namespace) -> int:
    report_process(args.names, not args.down, args.detail)
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    watch = commands.add_parser("watchdog", help="watch every part and alert by e-mail")
    sub_watch = watch.add_subparsers(dest="watchdog_command", required=True)
    sub = sub_watch.add_parser("run", help="check every minute (foreground)")
    sub.set_defaults(needs_schema=True, handler=_cmd_run)
    sub = sub_watch.add_parser("check", help="one round of checks, printed")
    sub.set_defaults(needs_schema=True, handler=_cmd_check)
    sub = sub_watch.add_parser("report", help="record (and mail) processes' state")
    sub.add_argument("names", nargs="+", metavar="name")
    sub.add_argument("--down", action="store_true")
    sub.add_argument("--detail", default="")
    sub.set_defaults(needs_schema=False, handler=_cmd_report)
