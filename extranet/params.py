"""Parsing what a URL carries (path ids, query values) in one place.

A value that does not parse, or parses to something the database or the date
arithmetic cannot hold, is the client's error: 400 for a query value, 404 for
a path (no route matches). Never a 500: ``int("²")`` fails although
``"²".isdigit()``, a 25-digit id overflows the database's integer, and
9999-12-31 has no next day.
"""

from __future__ import annotations

import re
from datetime import date

from flask import abort, request
from werkzeug.routing import IntegerConverter

#: Ids fit the smallest id column (a 32-bit INTEGER on PostgreSQL). The
#: 64-bit ones (visits, call events, audit entries) are far from it.
MAX_ID = 2**31 - 1
#: Dates a filter may name: what the service can hold, with margin.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
#: The longest text a filter takes.
MAX_TEXT = 200

_DIGITS = re.compile(r"[0-9]{1,10}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")

BAD_VALUE = "La valeur « {value} » du paramètre « {name} » n'est pas valide."


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: ASCII digits only, at most ``MAX_ID``."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


def parse_id(raw: str) -> int | None:
    """An id from ASCII digits, or None."""
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


def _refuse(name: str, raw: str) -> None:
    abort(400, description=BAD_VALUE.format(name=name, value=raw[:40]))


def int_arg(name: str) -> int | None:
    """An id or count from the query; absent or empty is None, anything else not
    a number that the database can hold is 400."""
    raw = request.args.get(name, "")
    if not raw:
        return None
    value = parse_id(raw)
    if value is None:
        _refuse(name, raw)
    return value


def date_arg(name: str) -> date | None:
    """A date ``AAAA-MM-JJ`` from the query, None when absent or empty."""
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        value = date.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or not MIN_DATE <= value <= MAX_DATE:
        _refuse(name, raw)
    return value


def month_arg(name: str) -> tuple[int, int] | None:
    """A month ``AAAA-MM`` from the query as (year, month)."""
    raw = request.args.get(name, "")
    if not raw:
        return None
    found = _MONTH.fullmatch(raw)
    if found is None:
        _refuse(name, raw)
    assert found is not None
    year, month = int(found.group(1)), int(found.group(2))
    if not (1 <= month <= 12 and MIN_DATE.year <= year <= MAX_DATE.year):
        _refuse(name, raw)
    return year, month


def text_arg(name: str) -> str:
    """A free text filter, stripped; control characters (NUL, which PostgreSQL
    refuses in text) and over-long values are 400."""
    raw = request.args.get(name, "")
    if len(raw) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        _refuse(name, raw.encode("unicode_escape").decode("ascii"))
    return raw.strip()
