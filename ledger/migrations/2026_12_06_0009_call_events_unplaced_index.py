"""Index the calls no visit could take, by time, for the incomplete-calls pages.

Revision ID: 20261206_ledger_unplaced_calls
Revises: 20261202_ledger_absences_ext
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_ledger_unplaced_calls"
down_revision: str | Sequence[str] | None = "20261202_ledger_absences_ext"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNPLACED = "beneficiary_id IS NULL OR worker_id IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_call_events_unplaced",
        "call_events",
        ["answered_at", "id"],
        postgresql_where=sa.text(UNPLACED),
        sqlite_where=sa.text(UNPLACED),
    )


def downgrade() -> None:
    op.drop_index("ix_call_events_unplaced", table_name="call_events")
