"""Extranet: login throttle counters per login and per address; temporary passwords.

The counters move from the account (``failed_logins``, ``last_failed_at``,
``locked_until``, read and written back in Python, which parallel attempts
bypassed) to ``extranet_login_throttle``, changed only by single UPDATE
statements and keyed by the login typed, so unknown logins count alike.
``must_change_password`` marks a password set by an administrator.

Revision ID: 20261210_extranet_login_throttle
Revises: 20261123_extranet_initial
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261210_extranet_login_throttle"
down_revision: str | Sequence[str] | None = "20261123_extranet_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "extranet_login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "login",
                "address",
                name="throttle_scope",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extranet_login_throttle")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_extranet_login_throttle_scope")),
    )
    op.create_index(
        op.f("ix_extranet_login_throttle_last_attempt_at"),
        "extranet_login_throttle",
        ["last_attempt_at"],
        unique=False,
    )
    with op.batch_alter_table("extranet_users") as batch:
        batch.add_column(
            sa.Column(
                "must_change_password",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.drop_column("failed_logins")
        batch.drop_column("last_failed_at")
        batch.drop_column("locked_until")
    with op.batch_alter_table("extranet_users") as batch:
        batch.alter_column("must_change_password", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("extranet_users") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.drop_column("must_change_password")
    with op.batch_alter_table("extranet_users") as batch:
        batch.alter_column("failed_logins", server_default=None)
    op.drop_index(
        op.f("ix_extranet_login_throttle_last_attempt_at"), table_name="extranet_login_throttle"
    )
    op.drop_table("extranet_login_throttle")
