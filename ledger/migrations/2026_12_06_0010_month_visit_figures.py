"""Keep a closed month's figures: one row per share of each counted visit.

Additive: the table ``month_visit_figures`` and two columns of ``month_closures``
(the revision and rounding rules of the figures kept). Months closed before
have no figures kept (their readers compute them, as before) until their next
close.

Revision ID: 20261206_ledger_month_figures
Revises: 20261206_ledger_unplaced_calls
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_ledger_month_figures"
down_revision: str | Sequence[str] | None = "20261206_ledger_unplaced_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "month_visit_figures",
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("share", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("visit_id", sa.BigInteger(), nullable=False),
        sa.Column("antenna_id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("kept_minutes", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("funder_code", sa.String(length=20), nullable=False),
        sa.Column("funder_kind", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period", "position", "share", name=op.f("pk_month_visit_figures")),
    )
    op.create_index(
        "ix_month_visit_figures_period", "month_visit_figures", ["period", "antenna_id"]
    )
    with op.batch_alter_table("month_closures") as batch:
        batch.add_column(sa.Column("figures_revision", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("figures_rules", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("month_closures") as batch:
        batch.drop_column("figures_rules")
        batch.drop_column("figures_revision")
    op.drop_index("ix_month_visit_figures_period", table_name="month_visit_figures")
    op.drop_table("month_visit_figures")
