"""A beneficiary's lines spread over several chunks give what they give in one.

The importer settles a known beneficiary's plans with the chunk of its lines
when they are exactly its stored plans in force, and reopens it when a later
chunk brings another of its plans (``flows.importer._Beneficiaries``). With
one line a chunk every line of these files is in a chunk of its own.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows import importer
from flows.importer import import_file
from ledger.models import AuditEntry, CarePlan, Funder
from tests.flows.files import ben_row, bens_file, world
from tests.flows.test_import_plans import APA, TOP_UP

NEW_TOP_UP = {**TOP_UP, "reference_plan": "CN-10", "date_debut_plan": "2026-11-25"}


def _plans(session: Session) -> list[tuple[str, str, str, float, date, date | None]]:
    session.expire_all()
    return [
        (ext, code, plan.reference, plan.max_hours, plan.starts_on, plan.ends_on)
        for plan, code, ext in session.execute(
            select(CarePlan, Funder.code, importer.Beneficiary.external_id)
            .join(Funder, Funder.id == CarePlan.funder_id)
            .join(importer.Beneficiary, importer.Beneficiary.id == CarePlan.beneficiary_id)
            .order_by(importer.Beneficiary.external_id, CarePlan.starts_on, CarePlan.reference)
        )
    ]


def _plan_history(session: Session) -> list[tuple[str, str]]:
    return [
        (action, str(details.get("changes", {})))
        for action, details in session.execute(
            select(AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.action.like("flows.care_plan%"))
            .order_by(AuditEntry.id)
        )
    ]


@pytest.mark.parametrize("chunk_lines", [1, 2, importer.CHUNK_LINES])
def test_lines_spread_over_chunks(
    chunk_lines: int,
    session: Session,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "CHUNK_LINES", chunk_lines)
    world(session)
    other = ben_row("BEN002", nom="Lefèvre", telephone_1="01 45 67 89 02")

    def run(day: str, rows: list[dict[str, str]]) -> tuple[int, int, int, int]:
        report = import_file(session_factory, bens_file(tmp_path / "in", rows, day=day), tmp_path)
        return report.created, report.updated, report.unchanged, report.rejected

    # New: the two plans of BEN001 come in lines apart.
    assert run("20261123", [ben_row(**APA), other, ben_row(**TOP_UP)]) == (2, 0, 0, 0)
    # The same plans, the second line of BEN001 apart from its first: unchanged.
    assert run("20261124", [ben_row(**APA), other, ben_row(**TOP_UP)]) == (0, 0, 2, 0)
    # The top-up no longer in the file: it closes the day before.
    assert run("20261125", [ben_row(**APA), other]) == (0, 1, 1, 0)
    # BEN001's first line is its plan in force (settled), a later one adds a new plan.
    assert run("20261126", [ben_row(**APA), other, ben_row(**NEW_TOP_UP)]) == (0, 1, 1, 0)
    # Unchanged again, in the other order.
    assert run("20261127", [ben_row(**NEW_TOP_UP), other, ben_row(**APA)]) == (0, 0, 2, 0)
    assert _plans(session) == [
        ("BEN001", "APA75", "APA-1", 30.0, date(2026, 1, 1), None),
        ("BEN001", "CNAV", "CN-9", 8.0, date(2026, 11, 1), date(2026, 11, 24)),
        ("BEN001", "CNAV", "CN-10", 8.0, date(2026, 11, 25), None),
        ("BEN002", "APA75", "PLAN-1", 40.0, date(2026, 1, 1), None),
    ]
    assert _plan_history(session) == [
        ("flows.care_plan_closed", "{'ends_on': [None, '2026-11-24']}"),
    ]
