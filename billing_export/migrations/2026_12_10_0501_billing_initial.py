"""Billing initial schema: the outbox journal of DELIVERY files and the Département's invoices.

Revision ID: 20261210_billing_initial
Revises:
Create Date: 2026-12-10 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261210_billing_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("billing_export",)
depends_on: str | Sequence[str] | None = "20261123_ledger_initial"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_outbox_files",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("funder_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("advices", sa.Integer(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                name="outbox_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("triggered_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["funder_id"],
            ["funders.id"],
            name=op.f("fk_billing_outbox_files_funder_id_funders"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_outbox_files")),
        sa.UniqueConstraint("name", name=op.f("uq_billing_outbox_files_name")),
    )
    with op.batch_alter_table("billing_outbox_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_outbox_files_funder_id"), ["funder_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_billing_outbox_files_month"), ["month"], unique=False)
        batch_op.create_index("ix_billing_outbox_files_status", ["status"], unique=False)

    op.create_table(
        "billing_invoices",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("aid_type", sa.String(length=10), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("area", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint("sha256", name=op.f("uq_billing_invoices_sha256")),
    )
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_invoices_area"), ["area"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_billing_invoices_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_invoices_received_at"))
        batch_op.drop_index(batch_op.f("ix_billing_invoices_area"))
    op.drop_table("billing_invoices")
    with op.batch_alter_table("billing_outbox_files", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_outbox_files_status")
        batch_op.drop_index(batch_op.f("ix_billing_outbox_files_month"))
        batch_op.drop_index(batch_op.f("ix_billing_outbox_files_funder_id"))
    op.drop_table("billing_outbox_files")
