"""Extranet: tokens of the REST API (``/api/v1``), one per client system.

Only the SHA-256 of each secret is stored; scopes, an optional antenna
restriction, who created and revoked it, when it was last used, and the
fixed-window rate-limit counter.

Revision ID: 20261206_extranet_api_tokens
Revises: 20261210_extranet_login_throttle
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_extranet_api_tokens"
down_revision: str | Sequence[str] | None = "20261210_extranet_login_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "extranet_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("scopes", sa.String(length=40), nullable=False),
        sa.Column("antenna_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=80), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_calls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["antenna_id"],
            ["antennas.id"],
            name=op.f("fk_extranet_api_tokens_antenna_id_antennas"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extranet_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_extranet_api_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_extranet_api_tokens_antenna_id"),
        "extranet_api_tokens",
        ["antenna_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_extranet_api_tokens_antenna_id"), table_name="extranet_api_tokens")
    op.drop_table("extranet_api_tokens")
