"""The shape of a scheduled job, shared by every package that has one.

Each package may expose ``<package>.jobs.jobs() -> list[ScheduledJob]``; the
composition root (``config.jobs.collect_jobs``) collects them and
``kernel.scheduler`` runs them on their cron schedule, writing each run to the
run journal.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"  # done, with rejected lines
    FAILED = "failed"


@dataclass(frozen=True)
class JobContext:
    session_factory: sessionmaker[Session]
    data_dir: Path
    #: "scheduler" or the login of whoever ran it by hand.
    triggered_by: str
    #: Free parameters for a run by hand (e.g. {"month": "2026-10"} or {"file": ...}).
    params: dict[str, Any] = field(default_factory=dict)
    #: ``progress(done, total)`` during a long run: the run journal shows it.
    progress: Callable[[int, int], None] = field(default=lambda done, total: None)


@dataclass(frozen=True)
class JobResult:
    status: RunStatus
    counts: dict[str, int] = field(default_factory=dict)
    #: Files produced for people to download (reject files, exports).
    files: tuple[Path, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class ScheduledJob:
    #: Stable identifier, e.g. "flows.daily_import".
    name: str
    #: French label shown in the run journal.
    label: str
    #: APScheduler CronTrigger keyword arguments, in Europe/Paris time.
    cron: dict[str, str]
    run: Callable[[JobContext], JobResult]
