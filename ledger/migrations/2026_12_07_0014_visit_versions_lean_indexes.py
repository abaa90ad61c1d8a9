"""Visit versions: fewer index entries per version written.

* ``ix_visit_versions_visit_id`` goes: the unique key ``(visit_id, version)``
  leads with the same column and serves every lookup by visit, the foreign
  key's checks included.
* The indexes on ``moved_from_worker_id`` and ``moved_from_beneficiary_id``
  become partial (``IS NOT NULL``): only a version that moved its visit has
  one, and a query for one person's moves (``x = :id``) implies it, so both
  databases still use them; every other version (each visit's first one, the
  ingest's and the IVR's) no longer writes two index entries of NULL.

Revision ID: 20261207_ledger_versions_lean
Revises: 20261207_ledger_visit_counts
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261207_ledger_versions_lean"
down_revision: str | Sequence[str] | None = "20261207_ledger_visit_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = ("moved_from_worker_id", "moved_from_beneficiary_id")


def upgrade() -> None:
    op.drop_index("ix_visit_versions_visit_id", table_name="visit_versions")
    for column in MOVED:
        op.drop_index(f"ix_visit_versions_{column}", table_name="visit_versions")
        op.create_index(
            f"ix_visit_versions_{column}",
            "visit_versions",
            [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
        )


def downgrade() -> None:
    for column in MOVED:
        op.drop_index(f"ix_visit_versions_{column}", table_name="visit_versions")
        op.create_index(f"ix_visit_versions_{column}", "visit_versions", [column])
    op.create_index("ix_visit_versions_visit_id", "visit_versions", ["visit_id"])
