"""The filters of the statistics pages: a period and what to keep in it.

Pure parsing of the query string into plain values: a malformed value is a
``FilterError`` with a French message (the page answers 400 with it), never a
500 and never a silently different period. Whether a worker or a beneficiary
is in the user's scope is checked by the controller, which answers 404 when
it is not (``extranet.scope``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from ledger.timeutil import FRENCH_MONTHS, Month, paris_to_utc

#: A period longer than this is refused (a year, leap or not, plus a little).
MAX_DAYS = 366
FIRST_YEAR, LAST_YEAR = 2000, 2100


class FilterError(ValueError):
    """A filter that cannot be read; the message is shown to the user."""


class PeriodKind(enum.StrEnum):
    WEEK = "semaine"
    MONTH = "mois"
    HALF_YEAR = "semestre"
    YEAR = "annee"
    DATES = "dates"

    @property
    def label(self) -> str:
        return {
            PeriodKind.WEEK: "Semaine",
            PeriodKind.MONTH: "Mois",
            PeriodKind.HALF_YEAR: "Semestre",
            PeriodKind.YEAR: "Année",
            PeriodKind.DATES: "Dates choisies",
        }[self]


def _french_day(day: date) -> str:
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {FRENCH_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Period:
    """Calendar days from ``first`` to ``last`` included, as the organisation lives them."""

    kind: PeriodKind
    first: date
    last: date

    @classmethod
    def week(cls, year: int, week: int) -> Period:
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise FilterError(f"semaine {year}-S{week:02d} inexistante") from None
        return cls(PeriodKind.WEEK, monday, monday + timedelta(days=6))

    @classmethod
    def month(cls, month: Month) -> Period:
        return cls(PeriodKind.MONTH, month.first_day, month.last_day)

    @classmethod
    def half_year(cls, year: int, half: int) -> Period:
        if half not in (1, 2):
            raise FilterError(f"semestre {half} : attendu 1 ou 2")
        first = date(year, 1 if half == 1 else 7, 1)
        last = date(year, 6, 30) if half == 1 else date(year, 12, 31)
        return cls(PeriodKind.HALF_YEAR, first, last)

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(PeriodKind.YEAR, date(year, 1, 1), date(year, 12, 31))

    @property
    def months(self) -> list[Month]:
        return Month.span(self.first, self.last)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def bounds_utc(self) -> tuple[datetime, datetime]:
        """UTC instants of the first Paris midnight of the period and of the day after it."""
        return (
            paris_to_utc(datetime.combine(self.first, datetime.min.time())),
            paris_to_utc(datetime.combine(self.last + timedelta(days=1), datetime.min.time())),
        )

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.first.isocalendar()
            days = f"du {_french_day(self.first)} au {_french_day(self.last)}"
            return f"semaine {week} de {year} ({days})"
        if self.kind is PeriodKind.MONTH:
            return Month.of(self.first).label
        if self.kind is PeriodKind.HALF_YEAR:
            half = "1er" if self.first.month == 1 else "2e"
            return f"{half} semestre {self.first.year}"
        if self.kind is PeriodKind.YEAR:
            return f"année {self.first.year}"
        return f"du {_french_day(self.first)} au {_french_day(self.last)}"

    @property
    def slug(self) -> str:
        """For file names: 2026-10, 2026-S44, 2026-S1, 2026, 2026-10-01_2026-10-15."""
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind is PeriodKind.MONTH:
            return str(Month.of(self.first))
        if self.kind is PeriodKind.HALF_YEAR:
            return f"{self.first.year}-S{1 if self.first.month == 1 else 2}"
        if self.kind is PeriodKind.YEAR:
            return str(self.first.year)
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    def args(self) -> dict[str, str]:
        """The query string that gives this period back (links, exports)."""
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.first.isocalendar()
            return {"periode": "semaine", "semaine": f"{year}-W{week:02d}"}
        if self.kind is PeriodKind.MONTH:
            return {"periode": "mois", "mois": str(Month.of(self.first))}
        if self.kind is PeriodKind.HALF_YEAR:
            half = 1 if self.first.month == 1 else 2
            return {"periode": "semestre", "semestre": f"{self.first.year}-{half}"}
        if self.kind is PeriodKind.YEAR:
            return {"periode": "annee", "annee": str(self.first.year)}
        return {"periode": "dates", "du": self.first.isoformat(), "au": self.last.isoformat()}


def default_period(kind: PeriodKind, today: date) -> Period:
    """The period a page opens on: the one holding today."""
    if kind is PeriodKind.WEEK:
        year, week, _ = today.isocalendar()
        return Period.week(year, week)
    if kind is PeriodKind.HALF_YEAR:
        return Period.half_year(today.year, 1 if today.month <= 6 else 2)
    if kind is PeriodKind.YEAR:
        return Period.year(today.year)
    if kind is PeriodKind.DATES:
        return Period(PeriodKind.DATES, today.replace(day=1), today)
    return Period.month(Month.of(today))


def _year(text: str) -> int:
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) == 4):
        raise FilterError(f"année illisible : {text!r} (attendu AAAA)")
    year = int(raw)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise FilterError(f"année {year} hors de la plage {FIRST_YEAR}–{LAST_YEAR}")
    return year


def _day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"date « {name} » illisible : {text!r} (attendu AAAA-MM-JJ)") from None
    _year(f"{day.year:04d}")
    return day


def parse_period(
    args: Mapping[str, str], today: date, allowed: tuple[PeriodKind, ...], default: PeriodKind
) -> Period:
    """Read ``periode`` and the value of that kind; absent values take today's period."""
    raw_kind = args.get("periode", "").strip()
    if not raw_kind:
        # A bare ``mois=`` keeps working (older links, the agreement test).
        raw_kind = "mois" if args.get("mois") and PeriodKind.MONTH in allowed else default.value
    try:
        kind = PeriodKind(raw_kind)
    except ValueError:
        raise FilterError(f"période inconnue : {raw_kind!r}") from None
    if kind not in allowed:
        names = ", ".join(k.label.lower() for k in allowed)
        raise FilterError(f"période « {kind.label.lower()} » non prévue ici (possible : {names})")
    if kind is PeriodKind.MONTH:
        raw = args.get("mois", "").strip()
        if not raw:
            return default_period(kind, today)
        try:
            month = Month.parse(raw)
        except ValueError as error:
            raise FilterError(str(error)) from None
        _year(f"{month.year:04d}")
        return Period.month(month)
    if kind is PeriodKind.WEEK:
        raw = args.get("semaine", "").strip()
        if not raw:
            return default_period(kind, today)
        year_text, sep, week_text = raw.upper().partition("-W")
        if not sep or not (week_text.isascii() and week_text.isdigit()) or len(week_text) > 2:
            raise FilterError(f"semaine illisible : {raw!r} (attendu AAAA-Wss, ex. 2026-W44)")
        return Period.week(_year(year_text), int(week_text))
    if kind is PeriodKind.HALF_YEAR:
        raw = args.get("semestre", "").strip()
        if not raw:
            return default_period(kind, today)
        year_text, sep, half = raw.partition("-")
        if not sep or half not in ("1", "2"):
            raise FilterError(f"semestre illisible : {raw!r} (attendu AAAA-1 ou AAAA-2)")
        return Period.half_year(_year(year_text), int(half))
    if kind is PeriodKind.YEAR:
        raw = args.get("annee", "").strip()
        return Period.year(_year(raw)) if raw else default_period(kind, today)
    first_text, last_text = args.get("du", "").strip(), args.get("au", "").strip()
    if not first_text or not last_text:
        raise FilterError("dates : indiquez le premier et le dernier jour (du, au)")
    first, last = _day(first_text, "du"), _day(last_text, "au")
    if last < first:
        raise FilterError("dates : le dernier jour précède le premier")
    if (last - first).days + 1 > MAX_DAYS:
        raise FilterError(f"dates : au plus {MAX_DAYS} jours")
    return Period(PeriodKind.DATES, first, last)


def _id(args: Mapping[str, str], name: str, label: str) -> int | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise FilterError(f"{label} illisible : {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Filters:
    """What a statistics page keeps: the period, then optional narrowing filters."""

    period: Period
    antenna_id: int | None = None
    funder_code: str | None = None
    worker_id: int | None = None
    beneficiary_id: int | None = None
    #: A state's own choices (kind of incomplete call, corrected or not...), already checked.
    options: dict[str, str] = field(default_factory=dict)

    def args(self) -> dict[str, str]:
        """The query string of these filters (links down to the visits, exports)."""
        found = self.period.args()
        if self.antenna_id is not None:
            found["antenne"] = str(self.antenna_id)
        if self.funder_code:
            found["financeur"] = self.funder_code
        if self.worker_id is not None:
            found["intervenant"] = str(self.worker_id)
        if self.beneficiary_id is not None:
            found["beneficiaire"] = str(self.beneficiary_id)
        found.update(self.options)
        return found

    def narrowed(self, **changes: object) -> Filters:
        return replace(self, **changes)  # type: ignore[arg-type]


def parse_filters(
    args: Mapping[str, str],
    today: date,
    *,
    periods: tuple[PeriodKind, ...],
    default: PeriodKind,
    options: Mapping[str, tuple[str, ...]] | None = None,
) -> Filters:
    """Every filter of the query string; ``options``: a state's own names and their values."""
    period = parse_period(args, today, periods, default)
    funder = args.get("financeur", "").strip() or None
    if funder is not None and (len(funder) > 20 or not funder.isprintable()):
        raise FilterError(f"financeur illisible : {funder!r}")
    chosen: dict[str, str] = {}
    for name, values in (options or {}).items():
        raw = args.get(name, "").strip()
        if raw and raw not in values:
            raise FilterError(f"{name} : {raw!r} inconnu (possible : {', '.join(values)})")
        if raw:
            chosen[name] = raw
    return Filters(
        period=period,
        antenna_id=_id(args, "antenne", "antenne"),
        funder_code=funder,
        worker_id=_id(args, "intervenant", "intervenant"),
        beneficiary_id=_id(args, "beneficiaire", "bénéficiaire"),
        options=chosen,
    )


def scope_antennas(
    user_antennas: frozenset[int] | None, antenna_id: int | None
) -> frozenset[int] | None:
    """The antennas a page reads: the user's scope narrowed by the antenna filter.

    A manager asking for another antenna gets the empty set (nothing), not theirs.
    """
    if antenna_id is None:
        return user_antennas
    if user_antennas is None:
        return frozenset({antenna_id})
    return user_antennas & {antenna_id}
