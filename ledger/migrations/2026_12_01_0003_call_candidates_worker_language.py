"""Call events keep the candidates of a shared number; workers have a language.

A number shared by several beneficiaries (a couple on one phone) that neither
the worker's plan nor the keypad decided leaves its candidates on the call
event for the manager. The IVR speaks to each worker in the worker's language.

Revision ID: 20261201_ledger_call_lang
Revises: 20261123_ledger_visits_date
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_ledger_call_lang"
down_revision: str | Sequence[str] | None = "20261123_ledger_visits_date"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call_events", sa.Column("candidate_ids", sa.String(length=200), nullable=True))
    op.add_column(
        "workers",
        sa.Column("language", sa.String(length=5), nullable=False, server_default="fr"),
    )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ has it): a batch copy of
    # call_events would drop the triggers that keep it append-only.
    op.execute("ALTER TABLE workers DROP COLUMN language")
    op.execute("ALTER TABLE call_events DROP COLUMN candidate_ids")
