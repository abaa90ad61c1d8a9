"""``telegestion backup [verify BACKUP]``, ``telegestion restore BACKUP``, and the daily job."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from config import backup
from kernel import settings as settings_module
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.progress import Progress


def _config_file() -> Path | None:
    name = settings_module.environ().get(settings_module.ENV_PREFIX + "CONFIG")
    return Path(name) if name else None


def run_backup_job(ctx: JobContext) -> JobResult:
    """The daily backup (``config.backup``), written to the run journal like any job."""
    core = settings_module.core()
    try:
        made = backup.make_backup(
            core.effective_database_url,
            ctx.data_dir,
            backup.load_settings(),
            config_file=_config_file(),
            progress=ctx.progress,
        )
    except backup.BackupError as exc:
        return JobResult(RunStatus.FAILED, message=f"Sauvegarde impossible : {exc}")
    return JobResult(
        RunStatus.SUCCESS,
        counts={
            "files": made.files,
            "tables": made.tables,
            "rows": made.rows,
            "removed": len(made.removed),
        },  # fmt: skip
        message=f"Sauvegarde {made.folder.name} : {made.files} fichier(s), {made.rows} ligne(s)",
    )


def jobs() -> list[ScheduledJob]:
    return [
        ScheduledJob(
            name="config.backup",
            label="Sauvegarde quotidienne",
            cron={"hour": "1", "minute": "30"},
            run=run_backup_job,
        )
    ]


def _cmd_backup(args: argparse.Namespace) -> int:
    core = settings_module.core()
    settings = backup.load_settings()
    try:
        made = backup.make_backup(
            core.effective_database_url,
            core.data_dir,
            settings,
            config_file=_config_file(),
            progress=Progress("Sauvegarde", "fichier"),
        )
    except backup.BackupError as exc:
        print(f"Sauvegarde impossible : {exc}", file=sys.stderr)
        return 1
    print(
        f"Sauvegarde {made.folder} : {made.tables} tables, {made.rows} ligne(s), "
        f"{made.files} fichier(s) avec leur empreinte SHA-256."
    )
    for old in made.removed:
        print(f"Ancienne sauvegarde supprimée (conservation : {settings.keep}) : {old.name}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    core = settings_module.core()
    try:
        result = backup.verify(args.backup, core.effective_database_url, core.data_dir)
    except backup.BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for fault in result.faults:
        print(f"  - {fault}")
    if not result.ok:
        print(f"Restauration NON conforme : {len(result.faults)} anomalie(s).")
        return 1
    print(
        f"Restauration conforme à {args.backup.name} : manifeste, {result.tables} tables "
        f"({result.rows} lignes, contenus identiques), historiques des interventions, "
        f"archive ({result.statements} état(s), {result.journal_entries} entrée(s) de journal)."
    )
    return 0


def _to_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"instant illisible : {text!r} (attendu AAAA-MM-JJTHH:MM:SS+01:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("donnez le fuseau, par exemple 2026-12-02T08:30:00+01:00")
    return moment.astimezone(UTC)


def _cmd_restore(args: argparse.Namespace) -> int:
    core = settings_module.core()
    try:
        steps = backup.restore(
            args.backup,
            core.effective_database_url,
            core.data_dir,
            backup.load_settings(),
            to_time=args.to_time,
            timeline=args.timeline,
        )
    except backup.BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Sauvegarde {args.backup.name} restaurée dans {core.data_dir}.")
    for step in steps:
        print(f"  - {step}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("backup", help="back up the database, the files and settings")
    parser.set_defaults(handler=_cmd_backup)
    sub = parser.add_subparsers(dest="backup_command")
    cmd = sub.add_parser("verify", help="compare a restored instance with its backup")
    cmd.add_argument("backup", type=Path)
    cmd.set_defaults(handler=_cmd_verify)

    cmd = commands.add_parser("restore", help="restore a backup into an empty instance")
    cmd.add_argument("backup", type=Path)
    cmd.add_argument(
        "--to-time",
        type=_to_time,
        help="PostgreSQL: the instant to reach (ISO 8601 with its offset), by the archived WAL",
    )
    cmd.add_argument(
        "--timeline",
        choices=("current", "latest"),
        default="current",
        help="with --to-time: the backup's own timeline (default) or the newest one",
    )
    cmd.set_defaults(handler=_cmd_restore)
