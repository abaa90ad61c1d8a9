"""A correction can move a visit to another worker or beneficiary of its antenna.

The version that moves it names who had it before, so that the former
worker's (or beneficiary's) page still shows the visit.

Revision ID: 20261201_ledger_visit_moves
Revises: 20261201_ledger_call_lang
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger import immutability

revision: str = "20261201_ledger_visit_moves"
down_revision: str | Sequence[str] | None = "20261201_ledger_call_lang"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MOVED_FROM = (
    ("moved_from_worker_id", "workers", "fk_visit_versions_moved_from_worker_id_workers"),
    (
        "moved_from_beneficiary_id",
        "beneficiaries",
        "fk_visit_versions_moved_from_beneficiary_id_beneficiaries",
    ),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect != "sqlite":
        for column, table, constraint in MOVED_FROM:
            op.add_column("visit_versions", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(
                constraint, "visit_versions", table, [column], ["id"], ondelete="RESTRICT"
            )
            op.create_index(f"ix_visit_versions_{column}", "visit_versions", [column])
        return
    # SQLite adds a foreign key only by copying the table: its append-only
    # triggers are put back afterwards.
    for statement in immutability.drop_statements("visit_versions", dialect):
        op.execute(statement)
    with op.batch_alter_table("visit_versions") as batch:
        for column, table, constraint in MOVED_FROM:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=True))
            batch.create_foreign_key(constraint, table, [column], ["id"], ondelete="RESTRICT")
            batch.create_index(f"ix_visit_versions_{column}", [column])
    for statement in immutability.trigger_statements("visit_versions", dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index(op.f("ix_visit_versions_moved_from_beneficiary_id"), table_name="visit_versions")
    op.drop_index(op.f("ix_visit_versions_moved_from_worker_id"), table_name="visit_versions")
    if dialect != "sqlite":
        op.drop_column("visit_versions", "moved_from_beneficiary_id")
        op.drop_column("visit_versions", "moved_from_worker_id")
        return
    # SQLite cannot drop a column that references another table: copy the table,
    # then put its append-only triggers back.
    for statement in immutability.drop_statements("visit_versions", dialect):
        op.execute(statement)
    with op.batch_alter_table("visit_versions") as batch:
        batch.drop_column("moved_from_beneficiary_id")
        batch.drop_column("moved_from_worker_id")
    for statement in immutability.trigger_statements("visit_versions", dialect):
        op.execute(statement)
