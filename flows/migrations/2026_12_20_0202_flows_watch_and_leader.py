"""The watchdog's check states and the schedulers' heartbeats (kernel.alerts, kernel.leader).

They sit in the flows branch beside the run journal, the other kernel table.

Revision ID: 20261220_flows_watch
Revises: 20261123_flows_initial
Create Date: 2026-12-20 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261220_flows_watch"
down_revision: str | Sequence[str] | None = "20261123_flows_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kernel_check_states",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_kernel_check_states")),
    )
    op.create_table(
        "kernel_heartbeats",
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_kernel_heartbeats")),
    )
    op.create_index(
        op.f("ix_kernel_heartbeats_beat_at"), "kernel_heartbeats", ["beat_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_kernel_heartbeats_beat_at"), table_name="kernel_heartbeats")
    op.drop_table("kernel_heartbeats")
    op.drop_table("kernel_check_states")
