"""Flows initial schema: the run journal of scheduled jobs.

Revision ID: 20261123_flows_initial
Revises:
Create Date: 2026-11-23 15:14:27.663729
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261123_flows_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("flows",)
depends_on: str | Sequence[str] | None = "20261123_ledger_initial"


def upgrade() -> None:
    op.create_table(
        "flows_job_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_name", sa.String(length=80), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "success",
                "partial",
                "failed",
                name="run_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("triggered_by", sa.String(length=80), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flows_job_runs")),
    )
    with op.batch_alter_table("flows_job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flows_job_runs_job_name"), ["job_name"], unique=False)
        batch_op.create_index("ix_flows_job_runs_started_at", ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flows_job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_flows_job_runs_started_at")
        batch_op.drop_index(batch_op.f("ix_flows_job_runs_job_name"))
    op.drop_table("flows_job_runs")
