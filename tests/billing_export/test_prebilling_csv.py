"""The pre-billing CSV files (golden, by hand): timestamped, recorded, kept periods side by side."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from billing_export.adapter import MonthFacts, Parties
from billing_export.services import write_prebilling
from ledger.money import allocate_month
from tests.billing_export.test_esppadom import (
    FUNDERS,
    GOLDEN,
    OCTOBER,
    PEOPLE,
    WORKERS,
    golden_data,
)


def test_golden_prebilling_csv(tmp_path: Path) -> None:
    plans, visits = golden_data()
    parties = Parties(
        beneficiaries=PEOPLE,
        workers=WORKERS,
        beneficiary_refs={k: v.external_id for k, v in PEOPLE.items()},
        worker_refs={k: v.external_id for k, v in WORKERS.items()},
    )
    facts = MonthFacts(OCTOBER, visits, plans, FUNDERS, parties)
    summary, detail = write_prebilling(facts, allocate_month(2026, 10, visits, plans), tmp_path)
    for produced in (summary, detail):
        golden = GOLDEN / produced.name
        assert produced.read_bytes() == golden.read_bytes()


def test_formula_looking_references_come_out_as_text(tmp_path: Path) -> None:
    plans, visits = golden_data()
    parties = Parties(
        beneficiaries=PEOPLE,
        workers=WORKERS,
        beneficiary_refs={k: f'=HYPERLINK("x{k}")' for k in PEOPLE},
        worker_refs={k: f"@SUM({k})" for k in WORKERS},
    )
    facts = MonthFacts(OCTOBER, visits, plans, FUNDERS, parties)
    for produced in write_prebilling(facts, allocate_month(2026, 10, visits, plans), tmp_path):
        rows = list(csv.reader(io.StringIO(produced.read_text("utf-8")), delimiter=";"))
        cells = [cell for row in rows[1:] for cell in row]
        assert any(cell.startswith("'=HYPERLINK") for cell in cells)
        assert any(cell.startswith("'@SUM") for cell in cells)
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
