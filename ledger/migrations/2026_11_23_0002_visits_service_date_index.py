"""Index visits by service date alone, for pages and statistics across all antennas.

Revision ID: 20261123_ledger_visits_date
Revises: 20261123_ledger_initial
Create Date: 2026-11-23 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "20261123_ledger_visits_date"
down_revision: str | Sequence[str] | None = "20261123_ledger_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_visits_service_date", "visits", ["service_date"])


def downgrade() -> None:
    op.drop_index("ix_visits_service_date", table_name="visits")
