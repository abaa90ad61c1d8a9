"""Keep a closed month's figures summed: per beneficiary × worker, and per plan and category.

Additive: the tables ``month_pair_figures`` and ``month_share_figures``
(``ledger.figures``), filled for the months already closed from their
``month_visit_figures`` rows (the same ``INSERT … SELECT`` the close runs), so
an organisation gets them without closing its months again.

Revision ID: 20261207_ledger_figure_totals
Revises: 20261206_ledger_month_figures
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.figures import store_totals
from ledger.timeutil import Month

revision: str = "20261207_ledger_figure_totals"
down_revision: str | Sequence[str] | None = "20261206_ledger_month_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "month_pair_figures",
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("antenna_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("worker_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("funder_code", sa.String(length=20), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("longest_minutes", sa.Integer(), nullable=False),
        sa.Column("longest_position", sa.Integer(), nullable=False),
        sa.Column("longest_visit_id", sa.BigInteger(), nullable=False),
        sa.Column("shortest_minutes", sa.Integer(), nullable=False),
        sa.Column("shortest_position", sa.Integer(), nullable=False),
        sa.Column("shortest_visit_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period",
            "antenna_id",
            "beneficiary_id",
            "worker_id",
            "funder_code",
            name=op.f("pk_month_pair_figures"),
        ),
    )
    op.create_table(
        "month_share_figures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("antenna_id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("funder_code", sa.String(length=20), nullable=False),
        sa.Column("funder_kind", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_month_share_figures")),
    )
    op.create_index(
        "ix_month_share_figures_period", "month_share_figures", ["period", "antenna_id"]
    )
    bind = op.get_bind()
    periods = bind.scalars(sa.text("SELECT DISTINCT period FROM month_visit_figures ORDER BY 1"))
    for period in list(periods):
        store_totals(bind, Month(period // 100, period % 100))


def downgrade() -> None:
    op.drop_index("ix_month_share_figures_period", table_name="month_share_figures")
    op.drop_table("month_share_figures")
    op.drop_table("month_pair_figures")
