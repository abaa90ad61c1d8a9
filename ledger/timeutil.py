"""Time rules: store UTC, show Europe/Paris, measure durations on the UTC line."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

#: Month names as users read them (statements, pages, file headers).
FRENCH_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Return an aware UTC datetime; a naive value is taken as already UTC.

    SQLite gives back naive datetimes even for timezone-aware columns, so every
    value read from storage goes through here.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_paris(moment: datetime) -> datetime:
    return as_utc(moment).astimezone(PARIS)


def paris_date(moment: datetime) -> date:
    return to_paris(moment).date()


def paris_to_utc(local: datetime, *, fold: int = 0) -> datetime:
    """Convert a naive Europe/Paris wall-clock time to UTC.

    ``fold`` picks the first (0) or second (1) occurrence of an ambiguous time
    in the October change; a time that does not exist (the March gap) is moved
    forward by the gap, as a clock would show it.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    aware = local.replace(tzinfo=PARIS, fold=fold)
    utc = aware.astimezone(UTC)
    if utc.astimezone(PARIS).replace(tzinfo=None) != local:
        # Non-existent wall time: the pre-gap offset (fold=0) moves it forward.
        utc = local.replace(tzinfo=PARIS, fold=0).astimezone(UTC)
    return utc


def duration(start: datetime, end: datetime) -> timedelta:
    """The true elapsed time, whatever the wall clocks said."""
    return as_utc(end) - as_utc(start)


def paris_day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC instants bounding a Paris calendar day (23, 24 or 25 hours long)."""
    start = paris_to_utc(datetime.combine(day, time.min))
    end = paris_to_utc(datetime.combine(day + timedelta(days=1), time.min))
    return start, end


def paris_month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = paris_to_utc(datetime(year, month, 1))
    nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
    return start, paris_to_utc(datetime(nyear, nmonth, 1))
