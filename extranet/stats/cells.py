"""Cells of exported files: text that cannot become a formula, numbers as French Excel reads.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and,
in some, a tab or a carriage return) as a formula: a beneficiary named
"=HYPERLINK(...)" in the planning software must not become a link in a
manager's spreadsheet. Every text cell of every statistics export goes
through ``safe_text``, which prefixes such a value with an apostrophe, the
usual escape (OWASP "CSV injection"). Numbers, dates and durations are
written by the exports from typed values, never from text, so a negative
number stays a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from extranet.formatting import date_time, day
from ledger.money import format_hours

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """``value`` as a cell that no spreadsheet evaluates."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def decimal_comma(value: float, places: int = 2) -> str:
    return f"{value:.{places}f}".replace(".", ",")


def hours_decimal(minutes: int) -> float:
    """Minutes (from ``ledger.money``) as decimal hours, for files and charts: 90 -> 1.5."""
    return round(minutes / 60, 2)


def delay_hours(delay: timedelta) -> float:
    return round(delay / timedelta(hours=1), 1)


def delay_text(delay: timedelta) -> str:
    """A delay as people read it: "45 min", "5 h", "3 j 4 h"."""
    minutes = int(delay // timedelta(minutes=1))
    if minutes < 60:
        return f"{minutes} min"
    hours, _ = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h"
    days, rest = divmod(hours, 24)
    return f"{days} j {rest} h" if rest else f"{days} j"


def screen_text(value: object, kind: str) -> str:
    """How the page shows a value of a column of this kind (``report.Kind`` value)."""
    if value is None or value == "":
        return "—"
    if kind == "hours" and isinstance(value, int):
        return format_hours(value)
    if kind == "percent" and isinstance(value, int | float):
        return f"{decimal_comma(float(value), 1)} %"
    if kind == "delay" and isinstance(value, timedelta):
        return delay_text(value)
    if kind == "datetime" and isinstance(value, datetime):
        return date_time(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return day(value)
    return str(value)


def csv_text(value: object, kind: str) -> str:
    """A CSV cell for French Excel: decimal comma, dates dd/mm/yyyy, text escaped."""
    if type(value) is str:  # most cells, first: a year's export writes millions
        return safe_text(value)
    if value is None:
        return ""
    if kind == "hours" and isinstance(value, int):
        return decimal_comma(hours_decimal(value))
    if kind == "percent" and isinstance(value, int | float):
        return decimal_comma(float(value), 1)
    if kind == "delay" and isinstance(value, timedelta):
        return decimal_comma(delay_hours(value), 1)
    if isinstance(value, datetime):
        return date_time(value)
    if isinstance(value, date):
        return day(value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return decimal_comma(value)
    return safe_text(str(value))


#: Distinct values a column's memo keeps at most (names, days, splits, clocks recur; a
#: column of unique values stops filling it there).
MEMO_MAX = 1 << 16


def csv_field(text: str) -> str:
    """``text`` as ``csv.writer`` (``;``, ``\r\n``, minimal quoting) writes it in a row."""
    if ";" in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class _Memo(dict[object, str]):
    """``convert``'s results of texts and days (``memo``)."""

    __slots__ = ("convert",)

    def __init__(self, convert: Callable[[object], str]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: object) -> str:
        text = self.convert(value)
        # Texts and days only: 1, 1.0 and True are one key to a dict, not one cell.
        if (type(value) is str or type(value) is date) and len(self) < MEMO_MAX:
            self[value] = text
        return text


def memo(convert: Callable[[object], str]) -> Callable[[object], str]:
    """``convert`` remembering its texts' and days' results (MEMO_MAX of them): a value
    met before is one lookup of a dict, without a call to Python code (a year's visits
    repeat their names, days, clocks and splits: 5 million cells, a few thousand texts)."""
    return _Memo(convert).__getitem__


def csv_writer_of(kind: str) -> Callable[[Sequence[object]], list[str]]:
    """A column's CSV fields (``csv_text``, quoted as ``csv_field``), a fresh one per table,
    given a column's values at a time: integers the shortest way (``str`` mapped over a
    column of integers only), texts and days remembered (``memo``)."""
    if kind in ("int", "minutes"):

        def one(value: object) -> str:
            return str(value) if type(value) is int else csv_field(csv_text(value, kind))

        def integers(column: Sequence[object]) -> list[str]:
            types = set(map(type, column))
            if types == {int}:
                return list(map(str, column))
            if types == {int, type(None)}:
                return ["" if value is None else str(value) for value in column]
            return list(map(one, column))

        return integers
    field = memo(lambda value: csv_field(csv_text(value, kind)))
    return lambda column: list(map(field, column))
