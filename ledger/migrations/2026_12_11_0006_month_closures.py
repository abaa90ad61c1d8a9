"""A month's closing: its state and the referents' validations per funder.

Additive: two new tables (ledger.closing, ledger.closures).

Revision ID: 20261201_ledger_month_closures
Revises: 20261123_ledger_visits_date
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_ledger_month_closures"
down_revision: str | Sequence[str] | None = "20261210_ledger_declarations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "month_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=80), nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_by", sa.String(length=80), nullable=True),
        sa.Column("reopen_motive", sa.Text(), nullable=True),
        sa.CheckConstraint("month BETWEEN 1 AND 12", name=op.f("ck_month_closures_month_range")),
        sa.CheckConstraint("revision >= 0", name=op.f("ck_month_closures_revision_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_month_closures")),
        sa.UniqueConstraint("year", "month", name="uq_month_closures_period"),
    )
    op.create_table(
        "month_funder_validations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("closure_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("funder_key", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("validated_by", sa.String(length=80), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["closure_id"],
            ["month_closures.id"],
            name=op.f("fk_month_funder_validations_closure_id_month_closures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_month_funder_validations")),
        sa.UniqueConstraint(
            "closure_id", "cycle", "funder_key", name="uq_month_funder_validations"
        ),
    )
    with op.batch_alter_table("month_funder_validations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_month_funder_validations_closure_id"), ["closure_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("month_funder_validations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_month_funder_validations_closure_id"))
    op.drop_table("month_funder_validations")
    op.drop_table("month_closures")
