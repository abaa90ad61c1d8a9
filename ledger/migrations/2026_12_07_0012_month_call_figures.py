"""Keep a closed month's incomplete calls: counts by day, antenna, worker, kind, corrected.

Additive: the table ``month_call_figures`` (``ledger.call_figures``), filled here
for the months already closed, so a deployed organisation's statistics read
them without closing those months again. The counting rule is the one of
``ledger.call_figures`` (a call missing; its kind; corrected when no longer
incomplete or when a version has a motive), written in SQL: a migration does
not import code that may change after it (``tests/ledger/test_call_figures.py``
checks that both count the same).

Revision ID: 20261207_ledger_call_figures
Revises: 20261207_ledger_figure_totals
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "20261207_ledger_call_figures"
down_revision: str | Sequence[str] | None = "20261207_ledger_figure_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNT_MONTH = sa.text(
    """
    INSERT INTO month_call_figures
        (period, service_date, antenna_id, worker_id, kind, corrected, visits)
    SELECT :period, v.service_date, v.antenna_id, v.worker_id,
           CASE WHEN v.arrival_event_id IS NULL AND v.departure_event_id IS NULL THEN 'aucun'
                WHEN v.arrival_event_id IS NULL THEN 'arrivee'
                ELSE 'depart' END,
           (v.status <> 'incomplete' OR EXISTS (
               SELECT 1 FROM visit_versions vv
               WHERE vv.visit_id = v.id AND vv.motive IS NOT NULL)),
           count(*)
    FROM visits v
    WHERE v.service_date >= :first AND v.service_date <= :last
      AND (v.arrival_event_id IS NULL OR v.departure_event_id IS NULL)
    GROUP BY 2, 3, 4, 5, 6
    """
).bindparams(
    sa.bindparam("period", type_=sa.Integer()),
    sa.bindparam("first", type_=sa.Date()),
    sa.bindparam("last", type_=sa.Date()),
)


def backfill(connection: sa.Connection) -> None:
    """Count the incomplete calls of every month closed now."""
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
        "month_call_figures",
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("antenna_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("worker_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("corrected", sa.Boolean(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period",
            "service_date",
            "antenna_id",
            "worker_id",
            "kind",
            "corrected",
            name=op.f("pk_month_call_figures"),
        ),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("month_call_figures")
