"""The run journal: one row per run of a scheduled job (or a run by hand).

The extranet shows these rows. Read them with plain SQLAlchemy, newest first::

    from sqlalchemy import select
    from kernel.runs import JobRun

    runs = session.scalars(select(JobRun).order_by(JobRun.started_at.desc()).limit(50))
    for run in runs:
        run.label, run.status.label, run.started_at, run.finished_at, run.counts
        for relative in run.files:          # e.g. "flows/rejects/2026-11-23/....csv"
            path = data_dir / relative      # data_dir = kernel.settings.core().data_dir
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.jobs import RunStatus
from ledger.models import Base, BigId
from ledger.timeutil import utc_now

#: French labels of run statuses, for the journal page.
STATUS_LABELS = {
    RunStatus.RUNNING: "En cours",
    RunStatus.SUCCESS: "Réussi",
    RunStatus.PARTIAL: "Réussi avec rejets",
    RunStatus.FAILED: "Échec",
}


class JobRun(Base):
    """One run of a job: when, by whom, how it ended, what it counted and produced."""

    __tablename__ = "flows_job_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: ``ScheduledJob.name``, e.g. "flows.daily_import".
    job_name: Mapped[str] = mapped_column(String(80), index=True)
    #: French label at the time of the run.
    label: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
    status: Mapped[RunStatus] = mapped_column(
        Enum(
            RunStatus,
            name="run_status",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    #: "scheduler" or the login of whoever ran it by hand.
    triggered_by: Mapped[str] = mapped_column(String(80))
    #: Free counters, e.g. {"lines": 120, "applied": 118, "rejected": 2}.
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    #: Files produced (exports, reject files), as POSIX paths relative to the data directory.
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Parameters of a run by hand (e.g. {"month": "2026-10"}).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: A short French summary, or the error of a failed run.
    message: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_flows_job_runs_started_at", "started_at"),)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]
