"""Absences get the planning software's identifier (imported by the absences file).

Revision ID: 20261202_ledger_absences_ext
Revises: 20261201_ledger_versions_at
Create Date: 2026-12-02 00:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_ledger_absences_ext"
down_revision: str | Sequence[str] | None = "20261201_ledger_versions_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_absences_external_id"), ["external_id"])


def downgrade() -> None:
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_absences_external_id"), type_="unique")
        batch_op.drop_column("external_id")
