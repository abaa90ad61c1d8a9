"""Extranet initial schema: user accounts (roles, throttling counters) and alert acks.

Revision ID: 20261123_extranet_initial
Revises:
Create Date: 2026-11-23 15:18:55.138540
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261123_extranet_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("extranet",)
depends_on: str | Sequence[str] | None = "20261123_ledger_initial"


def upgrade() -> None:
    op.create_table(
        "extranet_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "antenna_manager",
                "central_referent",
                "admin",
                name="user_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("antenna_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("external_subject", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role != 'antenna_manager' OR antenna_id IS NOT NULL",
            name=op.f("ck_extranet_users_manager_has_antenna"),
        ),
        sa.ForeignKeyConstraint(
            ["antenna_id"],
            ["antennas.id"],
            name=op.f("fk_extranet_users_antenna_id_antennas"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extranet_users")),
        sa.UniqueConstraint("external_subject", name=op.f("uq_extranet_users_external_subject")),
        sa.UniqueConstraint("login", name=op.f("uq_extranet_users_login")),
    )
    op.create_index(
        op.f("ix_extranet_users_antenna_id"), "extranet_users", ["antenna_id"], unique=False
    )
    op.create_table(
        "extranet_alert_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("antenna_id", sa.Integer(), nullable=True),
        sa.Column("acked_by", sa.String(length=80), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["antenna_id"],
            ["antennas.id"],
            name=op.f("fk_extranet_alert_acks_antenna_id_antennas"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extranet_alert_acks")),
        sa.UniqueConstraint("kind", "object_id", name=op.f("uq_extranet_alert_acks_kind")),
    )
    op.create_index(
        op.f("ix_extranet_alert_acks_antenna_id"),
        "extranet_alert_acks",
        ["antenna_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_extranet_alert_acks_antenna_id"), table_name="extranet_alert_acks")
    op.drop_table("extranet_alert_acks")
    op.drop_index(op.f("ix_extranet_users_antenna_id"), table_name="extranet_users")
    op.drop_table("extranet_users")
