"""Every package's scheduled jobs, collected at the composition root.

Each package may expose ``<package>.jobs.jobs() -> list[kernel.jobs.ScheduledJob]``;
``kernel.scheduler`` runs what this module collects.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from kernel.jobs import ScheduledJob

#: Packages that contribute jobs through ``<package>.jobs.jobs()``; ``config`` and
#: ``config.retention`` are the composition root's own (they reach every package's data).
JOB_PACKAGES = (
    "flows",
    "extranet",
    "archive",
    "billing_export",
    "ivr",
    "config",
    "config.retention",
)

#: Where a package's jobs are when not in ``<package>.jobs``: the composition root's own
#: job (the backup, which reads every package's tables) sits beside its command.
JOB_MODULES = {"config": "config.backup_cli", "config.retention": "config.retention"}


def collect_jobs(packages: Iterable[str] = JOB_PACKAGES) -> list[ScheduledJob]:
    """``<package>.jobs.jobs()`` of every package that has one, by name."""
    found: dict[str, ScheduledJob] = {}
    for package in packages:
        module_name = JOB_MODULES.get(package, f"{package}.jobs")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        for job in module.jobs():
            if job.name in found:
                raise ValueError(f"two jobs named {job.name}")
            found[job.name] = job
    return sorted(found.values(), key=lambda j: j.name)
