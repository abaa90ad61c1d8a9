"""Funder identity for the Département's platform, and what was declared per visit and funder.

Additive: four columns on ``funders`` (platform identifier, Département code,
EDESS aid type, local service codes; empty for existing rows, which then
declare nothing until someone fills them) and the ``declarations`` table
(ledger.declarations).

Revision ID: 20261210_ledger_declarations
Revises: 20261201_ledger_visit_moves
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261210_ledger_declarations"
down_revision: str | Sequence[str] | None = "20261201_ledger_visit_moves"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("funders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("platform_id", sa.String(length=60), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("departement_code", sa.String(length=3), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("aid_type", sa.String(length=10), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("service_codes", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )

    op.create_table(
        "declarations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("visit_id", BigId, nullable=False),
        sa.Column("funder_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("document_id", sa.String(length=60), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("order_reference", sa.String(length=60), nullable=False),
        sa.Column("service_code", sa.String(length=20), nullable=False),
        sa.Column("kept_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kept_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("clocked_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clocked_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("adjustment", sa.String(length=3), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiaries.id"],
            name=op.f("fk_declarations_beneficiary_id_beneficiaries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["funder_id"],
            ["funders.id"],
            name=op.f("fk_declarations_funder_id_funders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["care_plans.id"],
            name=op.f("fk_declarations_plan_id_care_plans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_declarations_visit_id_visits"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
            name=op.f("fk_declarations_worker_id_workers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declarations")),
        sa.UniqueConstraint("document_id", name=op.f("uq_declarations_document_id")),
        sa.UniqueConstraint(
            "channel", "visit_id", "funder_id", "month", name="uq_declarations_visit_funder"
        ),
    )
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_declarations_beneficiary_id"), ["beneficiary_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_declarations_funder_id"), ["funder_id"], unique=False)
        batch_op.create_index("ix_declarations_channel_month", ["channel", "month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.drop_index("ix_declarations_channel_month")
        batch_op.drop_index(batch_op.f("ix_declarations_funder_id"))
        batch_op.drop_index(batch_op.f("ix_declarations_beneficiary_id"))
    op.drop_table("declarations")
    with op.batch_alter_table("funders", schema=None) as batch_op:
        batch_op.drop_column("service_codes")
        batch_op.drop_column("aid_type")
        batch_op.drop_column("departement_code")
        batch_op.drop_column("platform_id")
