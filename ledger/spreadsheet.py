"""Cells that a spreadsheet opens as text, never as a formula.

Names, ids and free text come from the planning file or from users; written
as they are into a CSV (or XLSX) file, a value such as ``=HYPERLINK(...)`` or
``@SUM(...)`` is run by the spreadsheet that opens it (CSV/formula injection,
OWASP). Every file meant for a person goes through ``safe_cell`` — one rule for
the whole project: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return gets a leading apostrophe, which spreadsheets show as
text and do not evaluate. Numbers, dates and booleans are left as they are (a
negative number is a number, not a formula).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet may read it: text that would start a formula is quoted."""
    if type(value) is str:
        # Most cells are plain text: tested first, the isinstance of six types and the
        # str() below are skipped (a day's CSV for a referent has 26,000 cells).
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal | date | datetime):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_row(values: Iterable[object]) -> list[object]:
    return [safe_cell(v) for v in values]


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell`` (semicolons and
    CRLF, as French spreadsheets expect)."""

    def __init__(self, handle: TextIO, **options: Any) -> None:
        options.setdefault("delimiter", ";")
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(handle, **options)

    def writerow(self, values: Iterable[object]) -> None:
        self._writer.writerow(safe_row(values))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
