"""Index visit versions by when they were written: the daily export's late changes.

Revision ID: 20261201_ledger_versions_at
Revises: 20261201_ledger_month_closures
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "20261201_ledger_versions_at"
down_revision: str | Sequence[str] | None = "20261201_ledger_month_closures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_visit_versions_created_at", "visit_versions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_visit_versions_created_at", table_name="visit_versions")
