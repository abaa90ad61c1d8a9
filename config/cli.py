"""The ``telegestion`` command: one entry point, a sub-command per task.

Packages add their own sub-commands through ``<package>.cli.register``; this
module only composes them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from config import backup_cli, demo_cli, export_all, init_cli, jobs_cli, supervisor, watchdog
from config.database import migrate
from kernel import settings as settings_module

#: Packages that contribute sub-commands, each through ``<package>.cli.register``.
COMMAND_PACKAGES = ("ivr", "extranet", "archive", "billing_export")


def _cmd_migrate(args: argparse.Namespace) -> int:
    core = settings_module.core()
    migrate(core.effective_database_url)
    print(f"Base de données à jour : {core.effective_database_url.split('@')[-1]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telegestion", description="Télégestion des interventions"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("migrate", help="create or upgrade the database schema")
    sub.set_defaults(handler=_cmd_migrate)
    init_cli.register(commands)
    backup_cli.register(commands)
    export_all.register(commands)
    supervisor.register(commands)
    demo_cli.register(commands)
    jobs_cli.register(commands)
    watchdog.register(commands)
    for package in COMMAND_PACKAGES:
        module_name = f"{package}.cli"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if getattr(args, "needs_schema", False):
            # A package's command that reads or writes the database finds it up to date;
            # only the composition root knows every package's migrations.
            migrate(settings_module.core().effective_database_url)
        return int(args.handler(args) or 0)
    except settings_module.SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
