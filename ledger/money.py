"""The rules of money: a visit's minutes, which visits count, and who pays them.

This module is the one place that turns recorded times into minutes. Every
figure the product shows, exports, declares or signs (statistics, the visits
CSV, the beneficiary and worker pages, the service-done file, the pre-billing,
the ESPPADOM files, the signed statements) comes from ``recorded_minutes``,
``counts`` and ``allocate_month`` here. Pure functions on plain data:
``ledger.facts`` loads the facts from the tables.

The rules (see docs/decisions/0501-billing_export-allocation-rule.md):

* A visit belongs to the month of its ``service_date`` (Europe/Paris day of its
  start). Only visits with both a start and an end are billable; the others
  are returned as ``unbillable``.
* The **kept period** starts at the recorded start with its seconds dropped;
  its length is the recorded length (both ends with their seconds dropped), in
  whole minutes, rounded by the rule of the funder of the visit's first
  candidate plan (``Rounding``; default: to the minute).
* The **candidate plans** of a visit are the beneficiary's plans in force on
  its service date, restricted to the visit's service code when it has one,
  in priority order: Département funders first, then the older plan, then the
  lower id.
* Visits are taken in chronological order; each fills its candidate plans in
  priority order up to each plan's monthly maximum (``WITHIN``); what is left
  is ``BEYOND`` the first candidate plan; a visit with no candidate plan is
  ``OUTSIDE`` any plan. The shares of a visit cut its kept period into
  consecutive sub-periods, so no minute is lost or counted twice.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ledger.collector import without_cyclic_gc
from ledger.timeutil import as_utc

ALLOWED_STEPS = (1, 5, 10, 15, 30)
_MINUTE = timedelta(minutes=1)
#: ``n`` seconds and ``n`` minutes as timedeltas, made once: a month's allocation cuts
#: and lays out tens of thousands of times, and one subtraction or addition of a
#: ready timedelta costs a tenth of ``datetime.replace`` or of ``n * _MINUTE``.
_SECONDS = tuple(timedelta(seconds=n) for n in range(60))
_MINUTES = tuple(timedelta(minutes=n) for n in range(24 * 60))


class MoneyRuleError(ValueError):
    """Bad rounding or plan data; the message says which value and why."""


class RoundingMode(enum.StrEnum):
    DOWN = "down"
    NEAREST = "nearest"
    UP = "up"


@dataclass(frozen=True, slots=True)
class Rounding:
    """How a funder's charter turns a recorded length into billed minutes.

    ``tolerance``: a length at most this many minutes short of the next step
    is kept as that step whatever the mode (a 1h visit done in 57 min with a
    5 min tolerance is kept as 1h).
    """

    step: int = 1
    mode: RoundingMode = RoundingMode.NEAREST
    tolerance: int = 0

    def __post_init__(self) -> None:
        if self.step not in ALLOWED_STEPS:
            raise MoneyRuleError(f"pas d'arrondi {self.step} : attendu l'un de {ALLOWED_STEPS}")
        if not 0 <= self.tolerance < self.step or (self.step == 1 and self.tolerance):
            raise MoneyRuleError(
                f"tolérance {self.tolerance} : attendu de 0 à {self.step - 1} minutes"
            )

    def kept_minutes(self, minutes: int) -> int:
        if minutes < 0:
            raise MoneyRuleError(f"durée négative : {minutes} min")
        lower = minutes - minutes % self.step
        if lower == minutes:
            return minutes
        upper = lower + self.step
        if upper - minutes <= self.tolerance:
            return upper
        if self.mode is RoundingMode.DOWN:
            return lower
        if self.mode is RoundingMode.UP:
            return upper
        # Nearest; a tie goes up (a half-step done is a half-step owed).
        return upper if (minutes - lower) * 2 >= self.step else lower


DEFAULT_ROUNDING = Rounding()


def parse_rounding_rules(spec: str) -> dict[str, Rounding]:
    """Parse ``"APA75=15/nearest/5, PCH75=30/up"`` (funder code = step/mode[/tolerance])."""
    rules: dict[str, Rounding] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        code, sep, rule = item.partition("=")
        parts = rule.split("/")
        if not sep or not code.strip() or len(parts) not in (2, 3):
            raise MoneyRuleError(f"règle d'arrondi illisible : {item!r} (attendu CODE=pas/mode)")
        try:
            step = int(parts[0])
            mode = RoundingMode(parts[1].strip().lower())
            tolerance = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            raise MoneyRuleError(
                f"règle d'arrondi illisible : {item!r} (mode : down, nearest ou up)"
            ) from None
        rules[code.strip()] = Rounding(step, mode, tolerance)
    return rules


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) // _MINUTE)

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True, slots=True)
class PlanFact:
    plan_id: int
    beneficiary_id: int
    funder_code: str
    #: ledger FunderKind value (APA, ASL_PA, ASL_PH, PCH, CAISSE...).
    funder_kind: str
    departement: bool
    service_code: str
    #: The funder's reference of the plan (ESPPADOM ORDER reference).
    reference: str
    max_minutes: int
    starts_on: date
    ends_on: date | None

    def in_force(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)

    @property
    def priority(self) -> tuple[int, date, int]:
        return (0 if self.departement else 1, self.starts_on, self.plan_id)


@dataclass(frozen=True, slots=True)
class VisitFact:
    visit_id: int
    beneficiary_id: int
    worker_id: int
    service_date: date
    #: The visit as recorded now (latest version), UTC; None when missing.
    started_at: datetime | None
    ended_at: datetime | None
    #: The clocked calls (arrival, departure), UTC; None when not called in.
    clocked_start: datetime | None
    clocked_end: datetime | None
    service_code: str | None
    #: ESPPADOM_EFFECTIVITY_AJUST code (ledger.motives.esppadom_code); "" for none.
    adjustment: str
    status: str
    #: The visit's antenna (for figures by antenna); 0 when the caller does not need it.
    antenna_id: int = 0

    @property
    def recorded(self) -> Period | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return Period(as_utc(self.started_at), as_utc(self.ended_at))

    @property
    def clocked(self) -> Period | None:
        """The timestamped period, when both ends were called in."""
        if self.clocked_start is None or self.clocked_end is None:
            return None
        return Period(as_utc(self.clocked_start), as_utc(self.clocked_end))


class Category(enum.StrEnum):
    WITHIN = "within"  # inside a plan's monthly maximum
    BEYOND = "beyond"  # over the maximum of every candidate plan
    OUTSIDE = "outside"  # no plan in force for this date and service


@dataclass(frozen=True, slots=True)
class Share:
    plan: PlanFact | None
    category: Category
    #: The consecutive slice of the visit's kept period given to this share.
    kept: Period

    @property
    def minutes(self) -> int:
        return self.kept.minutes


@dataclass(frozen=True, slots=True)
class VisitBilling:
    visit: VisitFact
    recorded: Period
    kept: Period
    rounding: Rounding
    shares: tuple[Share, ...]


@dataclass(frozen=True, slots=True)
class LineKey:
    beneficiary_id: int
    funder_code: str  # "" when outside any plan
    plan_id: int | None
    service_code: str
    worker_id: int
    category: Category


@dataclass(slots=True)
class Line:
    key: LineKey
    #: Number of visit shares (a visit split between two plans counts in both lines).
    visits: int = 0
    kept_minutes: int = 0


@dataclass(frozen=True, slots=True)
class MonthBilling:
    year: int
    month: int
    visits: tuple[VisitBilling, ...]
    unbillable: tuple[VisitFact, ...]
    lines: tuple[Line, ...] = field(default=())

    def minutes_by_funder(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for line in self.lines:
            totals[line.key.funder_code] += line.kept_minutes
        return dict(totals)


def truncate_to_minute(moment: datetime) -> datetime:
    return as_utc(moment).replace(second=0, microsecond=0)


#: Visit statuses that never count (a deleted visit keeps its versions, not its minutes).
NOT_COUNTED_STATUSES = frozenset({"deleted"})


def counts(status: str, started_at: datetime | None, ended_at: datetime | None) -> bool:
    """Whether a visit counts: not deleted, both ends known, not ending before it starts."""
    if str(status) in NOT_COUNTED_STATUSES or started_at is None or ended_at is None:
        return False
    return as_utc(ended_at) >= as_utc(started_at)


def recorded_minutes(started_at: datetime, ended_at: datetime) -> int:
    """A visit's recorded length: whole minutes between its ends with their seconds dropped.

    Measured on the UTC line, so a visit across a daylight-saving change has its
    true length. Funder rounding (``Rounding``) applies on top of this, never
    instead of it.
    """
    return Period(truncate_to_minute(started_at), truncate_to_minute(ended_at)).minutes


def format_hours(minutes: int) -> str:
    """Minutes as people read them: "12 h 05" (negative values keep their sign)."""
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    return f"{sign}{minutes // 60} h {minutes % 60:02d}"


def kept_period(recorded: Period, rounding: Rounding) -> Period:
    start = truncate_to_minute(recorded.start)
    minutes = recorded_minutes(recorded.start, recorded.end)
    return Period(start, start + rounding.kept_minutes(minutes) * _MINUTE)


def candidate_plans(visit: VisitFact, plans: Iterable[PlanFact]) -> list[PlanFact]:
    in_force = [p for p in plans if p.in_force(visit.service_date)]
    if visit.service_code is not None:
        in_force = [p for p in in_force if p.service_code == visit.service_code]
    return sorted(in_force, key=lambda p: p.priority)


def _in_month(day: date, year: int, month: int) -> bool:
    return day.year == year and day.month == month


def allocate_month(
    year: int,
    month: int,
    visits: Iterable[VisitFact],
    plans: Iterable[PlanFact],
    rules: Mapping[str, Rounding] | None = None,
    default: Rounding = DEFAULT_ROUNDING,
) -> MonthBilling:
    """Split a month of visits between plans, funders and workers.

    Written for months of millions of visits: each beneficiary's plans are
    sorted by priority once (a visit's candidates are that list filtered, so
    in the same order ``candidate_plans`` gives), times are turned to UTC once
    and minutes are counted as integers; the figures are those of the rules
    above (``tests/ledger/test_money_fast.py`` holds both to each other).
    """
    rules = rules or {}
    by_ben: dict[int, list[PlanFact]] = defaultdict(list)
    for plan in plans:
        if plan.max_minutes < 0:
            raise MoneyRuleError(f"plan {plan.reference or plan.plan_id} : maximum négatif")
        by_ben[plan.beneficiary_id].append(plan)
    ordered_plans = {ben: sorted(found, key=_priority) for ben, found in by_ben.items()}

    # The collector kept off from the first tuple: a month's tuples are tens of
    # thousands of new objects, each batch of which made it walk every object alive.
    with without_cyclic_gc():
        billable: list[tuple[int, datetime, int, VisitFact, datetime, datetime]] = []
        unbillable: list[VisitFact] = []
        for visit in visits:
            day = visit.service_date
            if day.year != year or day.month != month:
                continue
            started, ended = visit.started_at, visit.ended_at
            if started is None or ended is None or visit.status in NOT_COUNTED_STATUSES:
                unbillable.append(visit)
                continue
            started, ended = _utc(started), _utc(ended)
            if ended < started:
                unbillable.append(visit)
                continue
            billable.append((visit.beneficiary_id, started, visit.visit_id, visit, started, ended))
        billable.sort(key=_chronological)
        return _allocate(year, month, billable, unbillable, ordered_plans, rules, default)


_Marker = tuple[int, str, int | None, str, int, Category]


def _allocate(
    year: int,
    month: int,
    billable: list[tuple[int, datetime, int, VisitFact, datetime, datetime]],
    unbillable: list[VisitFact],
    ordered_plans: dict[int, list[PlanFact]],
    rules: Mapping[str, Rounding],
    default: Rounding,
) -> MonthBilling:
    used: dict[int, int] = defaultdict(int)
    results: list[VisitBilling] = []
    #: (beneficiary, funder, plan, service, worker, category) -> [shares, minutes]
    totals: dict[_Marker, list[int]] = {}
    no_plans: list[PlanFact] = []
    within, beyond, outside = Category.WITHIN, Category.BEYOND, Category.OUTSIDE
    cut_seconds, whole_minutes, day_minutes = _SECONDS, _MINUTES, len(_MINUTES)
    for ben, started, _id, visit, _started, ended in billable:
        day, code, worker = visit.service_date, visit.service_code, visit.worker_id
        candidates = [
            p
            for p in ordered_plans.get(ben, no_plans)
            if p.starts_on <= day
            and (p.ends_on is None or day <= p.ends_on)
            and (code is None or p.service_code == code)
        ]
        rounding = rules.get(candidates[0].funder_code, default) if candidates else default
        # Both ends with their seconds dropped (``truncate_to_minute``; UTC, so the
        # subtraction of the seconds is exact).
        if started.microsecond:
            kept_start = started.replace(second=0, microsecond=0)
        else:
            kept_start = started - cut_seconds[started.second]
        if ended.microsecond:
            ended_cut = ended.replace(second=0, microsecond=0)
        else:
            ended_cut = ended - cut_seconds[ended.second]
        length = (ended_cut - kept_start) // _MINUTE
        remaining = rounding.kept_minutes(length)
        kept = Period(
            kept_start,
            kept_start
            + (whole_minutes[remaining] if remaining < day_minutes else remaining * _MINUTE),
        )
        shares: list[Share] = []
        counted: list[tuple[_Marker, int]] = []
        cursor = kept_start
        for plan in candidates:
            if remaining == 0:
                break
            take = min(remaining, max(0, plan.max_minutes - used[plan.plan_id]))
            if take:
                used[plan.plan_id] += take
                end = cursor + (whole_minutes[take] if take < day_minutes else take * _MINUTE)
                shares.append(Share(plan, within, Period(cursor, end)))
                counted.append(
                    ((ben, plan.funder_code, plan.plan_id, plan.service_code, worker, within), take)
                )
                cursor, remaining = end, remaining - take
        if remaining:
            first = candidates[0] if candidates else None
            marker: _Marker
            if first is not None:
                shares.append(Share(first, beyond, Period(cursor, kept.end)))
                marker = (ben, first.funder_code, first.plan_id, first.service_code, worker, beyond)
            else:
                shares.append(Share(None, outside, Period(cursor, kept.end)))
                marker = (ben, "", None, code or "", worker, outside)
            counted.append((marker, remaining))
        for marker, minutes in counted:
            total = totals.get(marker)
            if total is None:
                totals[marker] = [1, minutes]
            else:
                total[0] += 1
                total[1] += minutes
        results.append(VisitBilling(visit, Period(started, ended), kept, rounding, tuple(shares)))
    lines = [Line(LineKey(*marker), n, minutes) for marker, (n, minutes) in totals.items()]
    lines.sort(key=line_order)
    return MonthBilling(year, month, tuple(results), tuple(unbillable), tuple(lines))


def _utc(moment: datetime) -> datetime:
    """``as_utc`` without a call when the value is already UTC (most of a month's)."""
    tz = moment.tzinfo
    if tz is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if tz is None else moment.astimezone(UTC)


def _priority(plan: PlanFact) -> tuple[int, date, int]:
    return plan.priority


def _chronological(
    item: tuple[int, datetime, int, VisitFact, datetime, datetime],
) -> tuple[int, datetime, int]:
    return item[0], item[1], item[2]


def line_order(line: Line) -> tuple[int, str, int, str, int]:
    """The order of a month's lines (``MonthBilling.lines``)."""
    key = line.key
    return (
        key.beneficiary_id,
        key.funder_code,
        key.plan_id or 0,
        key.category.value,
        key.worker_id,
    )


@dataclass(frozen=True, slots=True)
class FunderShare:
    """All of one funder's minutes of a visit, as one consecutive slice of its kept period."""

    funder_code: str
    #: The plan the minutes are declared under: the plan of the funder's first share
    #: (the one with priority on the visit's date, decision 0501).
    plan: PlanFact
    kept: Period
    #: The plans of this funder that took minutes, in allocation order.
    plans: tuple[PlanFact, ...]

    @property
    def minutes(self) -> int:
        return self.kept.minutes


def funder_shares(billing: VisitBilling) -> tuple[FunderShare, ...]:
    """One share per funder of a visit, funders in the order of their first share.

    A visit split between two plans of the same funder is one declaration to
    that funder, not two with the same clock-ins. The funders' slices are laid
    out again one after the other from the kept start, each as long as the sum
    of that funder's shares, so every slice is one consecutive period, slices
    never overlap and no minute is lost or counted twice (when a funder's
    shares were already consecutive, its slice is exactly theirs). Minutes
    outside any plan belong to no funder and are left out.
    """
    order: list[str] = []
    minutes: dict[str, int] = defaultdict(int)
    plans: dict[str, list[PlanFact]] = defaultdict(list)
    for share in billing.shares:
        if share.plan is None:
            continue
        code = share.plan.funder_code
        if code not in minutes:
            order.append(code)
        minutes[code] += share.minutes
        if share.plan not in plans[code]:
            plans[code].append(share.plan)
    cursor = billing.kept.start
    out: list[FunderShare] = []
    for code in order:
        end = cursor + minutes[code] * _MINUTE
        out.append(FunderShare(code, plans[code][0], Period(cursor, end), tuple(plans[code])))
        cursor = end
    return tuple(out)
