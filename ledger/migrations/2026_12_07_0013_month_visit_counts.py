"""Keep a closed month's visits per antenna, with and without a call missing.

Additive: the table ``month_visit_counts`` (``ledger.call_figures``), filled here
for the months already closed, so that the statistics overview's rate of
incomplete calls reads them without closing those months again. The rule is
``ledger.call_figures``'s (deleted visits left out; a call missing when the
arrival or the departure has no call), written in SQL: a migration does not
import code that may change after it (``tests/ledger/test_call_figures.py``
checks that both count the same).

Revision ID: 20261207_ledger_visit_counts
Revises: 20261207_ledger_call_figures
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "20261207_ledger_visit_counts"
down_revision: str | Sequence[str] | None = "20261207_ledger_call_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNT_MONTH = sa.text(
    """
    INSERT INTO month_visit_counts (period, antenna_id, visits, missing_call)
    SELECT :period, v.antenna_id, count(*),
           sum(CASE WHEN v.arrival_event_id IS NULL OR v.departure_event_id IS NULL
                    THEN 1 ELSE 0 END)
    FROM visits v
    WHERE v.service_date >= :first AND v.service_date <= :last
      AND v.status <> 'deleted'
    GROUP BY v.antenna_id
    """
).bindparams(
    sa.bindparam("period", type_=sa.Integer()),
    sa.bindparam("first", type_=sa.Date()),
    sa.bindparam("last", type_=sa.Date()),
)


def backfill(connection: sa.Connection) -> None:
    """Count the visits of every month closed now."""
    closed = connection.execute(
        sa.text("SELECT year, month FROM month_closures WHERE closed ORDER BY year, month")
    ).all()
    for year, month in closed:
        connection.execute(
            COUNT_MONTH,
            {
                "period": year * 100 + month,
                "first": date(year, month, 1),
                "last": date(year, month, calendar.monthrange(year, month)[1]),
            },
        )


def upgrade() -> None:
    op.create_table(
        "month_visit_counts",
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("antenna_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("missing_call", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period", "antenna_id", name=op.f("pk_month_visit_counts")),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("month_visit_counts")
