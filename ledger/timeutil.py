"""Time rules: store UTC, show Europe/Paris, measure durations on the UTC line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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
    tz = moment.tzinfo
    if tz is UTC:
        return moment
    if tz is None or tz in _UTC_ZONES:  # psycopg's values from a server set to UTC
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_UTC_ZONES = frozenset({ZoneInfo("UTC"), ZoneInfo("Etc/UTC")})


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
    return Month(year, month).bounds_utc()


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month as the organisation lives it (Europe/Paris)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValueError(f"mois invalide : {self.year}-{self.month:02d}")

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-11"`` (or ``"202611"``); ValueError with a French message otherwise."""
        raw = text.strip()
        digits = raw.replace("-", "")
        if not (digits.isascii() and digits.isdigit() and len(digits) == 6):
            raise ValueError(f"mois illisible : {text!r} (attendu AAAA-MM)")
        return cls(int(digits[:4]), int(digits[4:]))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def bounds_utc(self) -> tuple[datetime, datetime]:
        """UTC instants of the first Paris midnight of this month and of the next."""
        following = self.next()
        return (
            paris_to_utc(datetime(self.year, self.month, 1)),
            paris_to_utc(datetime(following.year, following.month, 1)),
        )

    @classmethod
    def span(cls, first: date, last: date) -> list[Month]:
        """Every month from the one of ``first`` to the one of ``last``, in order."""
        months, current, end = [], cls.of(first), cls.of(last)
        while current <= end:
            months.append(current)
            current = current.next()
        return months

    def contains(self, day: date) -> bool:
        return day.year == self.year and day.month == self.month

    @staticmethod
    def day_ranges(months: Iterable[Month], first: date, last: date) -> list[tuple[date, date]]:
        """The days of ``months`` (in order) between ``first`` and ``last``, as ranges:
        neighbouring months make one."""
        ranges: list[tuple[date, date]] = []
        for month in months:
            start, end = max(month.first_day, first), min(month.last_day, last)
            if ranges and ranges[-1][1] + timedelta(days=1) == start:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((start, end))
        return ranges

    @property
    def label(self) -> str:
        """French label: "novembre 2026"."""
        return f"{FRENCH_MONTHS[self.month - 1]} {self.year}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
