"""Jinja filters: UTC instants shown in Europe/Paris, French dates and durations."""

from __future__ import annotations

from datetime import date, datetime

from ledger.money import format_hours
from ledger.timeutil import FRENCH_MONTHS, to_paris

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = FRENCH_MONTHS


def hour(moment: datetime | None) -> str:
    return "—" if moment is None else to_paris(moment).strftime("%H:%M")


def date_time(moment: datetime | None) -> str:
    return "—" if moment is None else to_paris(moment).strftime("%d/%m/%Y %H:%M")


def day(value: date | None) -> str:
    # An f-string: a year's export writes a date per row, and strftime costs three times more.
    return "—" if value is None else f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def long_day(value: date) -> str:
    return f"{DAYS[value.weekday()]} {value.day} {MONTHS[value.month - 1]} {value.year}"


def month_name(year: int, month: int) -> str:
    return f"{MONTHS[month - 1]} {year}"


def hours(minutes: int | None) -> str:
    """Minutes (from ``ledger.money``) as people read them: 3 h 05."""
    if minutes is None:
        return "—"
    return format_hours(minutes)


def local_input(moment: datetime | None) -> str:
    """The value of a datetime-local input, in Paris time."""
    return "" if moment is None else to_paris(moment).strftime("%Y-%m-%dT%H:%M")


FILTERS = {
    "hour": hour,
    "date_time": date_time,
    "day": day,
    "long_day": long_day,
    "hours": hours,
    "local_input": local_input,
}
