"""The thirteen states the customer listed, and the visits behind their figures.

Each state is a function ``(Context) -> Report`` registered in ``STATES`` with
the filters that apply to it. The functions read through ``loaders`` (every
minute from the ledger's rules of money, every row in the page's antennas)
and return plain tables and charts; ``controllers`` renders them as a page or
a file.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any

from flask import url_for
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Interval,
    ScalarSelect,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from extranet.models import User
from extranet.stats import kept, loaders
from extranet.stats.filters import Filters, Period, PeriodKind
from extranet.stats.loaders import (
    CHUNK,
    OUTSIDE_LABEL,
    Context,
    aid_type,
    antenna_names,
    billed,
    code_label,
    funders,
    in_antennas,
    kept_minutes,
    people,
    shares,
)
from extranet.stats.report import Chart, Column, Kind, Report, Row, Table, Value
from ledger import call_figures
from ledger.call_figures import corrected, incomplete_kind, missing_call
from ledger.collector import without_cyclic_gc
from ledger.facts import month_plans, plan_minutes
from ledger.figures import period_of
from ledger.models import (
    Absence,
    AbsenceKind,
    Beneficiary,
    CallEvent,
    CarePlan,
    Funder,
    FunderKind,
    Identification,
    MonthCallFigure,
    Phone,
    PlannedVisit,
    Visit,
    VisitStatus,
    VisitVersion,
    Worker,
)
from ledger.money import Category, PlanFact, format_hours, recorded_minutes
from ledger.timeutil import Month, as_utc, paris_date, to_paris

ALL_PERIODS = tuple(PeriodKind)
CATEGORY_LABELS = {
    Category.WITHIN: "Dans le plan",
    Category.BEYOND: "Au-delà du plan",
    Category.OUTSIDE: "Hors plan",
}


@dataclass(frozen=True)
class State:
    number: int
    slug: str
    title: str
    #: One line in the statistics menu.
    summary: str
    build: Callable[[Context], Report]
    #: Filters that apply, among "antenne", "financeur", "intervenant", "beneficiaire".
    uses: tuple[str, ...] = ("antenne",)
    periods: tuple[PeriodKind, ...] = ALL_PERIODS
    default: PeriodKind = PeriodKind.MONTH
    #: A state's own choices: name -> ((value, label), ...).
    options: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: Its PDF lists only the first ``PDF_VISITS`` rows: built for it as a page of that
    #: many rows (its count and total read by SQL), not the whole detail (state 0's year
    #: is 550,000 rows, two thirds of its PDF's time).
    pdf_listed: bool = False

    @property
    def option_values(self) -> dict[str, tuple[str, ...]]:
        return {name: tuple(v for v, _ in choices) for name, choices in self.options.items()}


def visits_link(ctx: Context, **narrow: object) -> str:
    """The visits behind a figure: the drill-down page with these filters."""
    args: dict[str, Any] = ctx.filters.narrowed(options={}, **narrow).args()
    return url_for("stats.state", slug="interventions", **args)


def _person_link(kind: str, person_id: int) -> str:
    if kind == "beneficiary":
        return url_for("people.beneficiary", beneficiary_id=person_id)
    return url_for("people.worker", worker_id=person_id)


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def _mean(total: int, count: int) -> int | None:
    return None if count == 0 else round(total / count)


SHORT_MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def _month_label(month: Month) -> str:
    """Short, for chart axes: "janv. 2026"."""
    return f"{SHORT_MONTHS[month.month - 1]} {month.year}"


def _first(*moments: datetime | None) -> datetime | None:
    """The first known instant, in UTC."""
    return next((as_utc(m) for m in moments if m is not None), None)


@lru_cache(maxsize=1 << 16)
def _clock(moment: datetime | None) -> str:
    # Kept: a year's export asks two per row (a million), and visits start and end on
    # the same minutes again and again; an f-string, not strftime (three times slower).
    if moment is None:
        return "—"
    paris = to_paris(moment)
    return f"{paris.hour:02d}:{paris.minute:02d}"


@lru_cache(maxsize=1 << 16)
def _clock_of_text(moment: str | None) -> str:
    """``_clock`` of a moment read as the database's text (ISO 8601: PostgreSQL's
    "2025-01-06 07:00:00+00", SQLite's naive UTC "2025-01-06 07:00:00.000000"): a year's
    export reads two a row, and the driver's aware datetimes were half of its read."""
    return _clock.__wrapped__(None if moment is None else datetime.fromisoformat(moment))


# --- 1. Monthly hours per beneficiary ----------------------------------------------------


def hours_by_beneficiary(ctx: Context) -> Report:
    names = funders(ctx.session)
    totals: dict[tuple[int, str, Category], list[int]] = {}
    months, closed = kept.split_months(ctx)
    for _month, vb in billed(ctx, only=[m for m in months if m not in closed]):
        for share in shares(vb, ctx.filters.funder_code):
            code = share.plan.funder_code if share.plan else ""
            cell = totals.setdefault((vb.visit.beneficiary_id, code, share.category), [0, 0])
            cell[0] += 1
            cell[1] += share.minutes
    for (bid, code, category), (count, minutes) in kept.beneficiary_shares(ctx, closed).items():
        cell = totals.setdefault((bid, code, Category(category)), [0, 0])
        cell[0] += count
        cell[1] += minutes
    bens = people(ctx.session, Beneficiary, (key[0] for key in totals))
    ants = antenna_names(ctx.session)
    lines = sorted(
        totals.items(), key=lambda item: (bens[item[0][0]].name, item[0][0], item[0][1], item[0][2])
    )
    rows = []
    # A page lists the first lines (a year of all antennas: 1,000 lines, 1 MB of HTML).
    for (bid, code, category), (count, minutes) in lines[: ctx.listed]:
        ben = bens[bid]
        rows.append(
            Row(
                (
                    ben.name,
                    ben.external_id,
                    ants.get(ben.antenna_id, "?"),
                    names[code][0] if code in names else OUTSIDE_LABEL,
                    code,
                    CATEGORY_LABELS[category],
                    count,
                    minutes,
                    minutes,
                ),
                links={
                    0: _person_link("beneficiary", bid),
                    6: visits_link(ctx, beneficiary_id=bid, funder_code=code or None),
                },
                attrs={"data-beneficiary": ben.external_id, "data-funder": code},
            )
        )
    total = sum(m for _c, m in totals.values())
    table = Table(
        "heures-beneficiaires",
        f"Heures par bénéficiaire et financeur, {ctx.filters.period.label} : "
        f"{format_hours(total)} au total",
        (
            Column("Bénéficiaire"),
            Column("Identifiant"),
            Column("Antenne"),
            Column("Financeur"),
            Column("Code financeur"),
            Column("Catégorie"),
            Column("Interventions", Kind.INT),
            Column("Minutes", Kind.MINUTES),
            Column("Heures", Kind.HOURS),
        ),
        rows,
        total=Row(("Total", "", "", "", "", "", sum(c for c, _m in totals.values()), total, total)),
        empty="Aucune intervention sur la période.",
        count=len(lines),
    )
    return Report(
        "Heures réalisées par bénéficiaire et financeur",
        "Heures retenues selon la règle d'arrondi de chaque financeur et réparties entre les plans "
        "d'aide (mêmes chiffres que la pré-facturation, la télétransmission et les états mensuels "
        "signés).",
        [table],
    )


# --- 2. Care plan follow-up --------------------------------------------------------------


def plan_follow_up(ctx: Context) -> Report:
    f = ctx.filters
    used: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # plan -> [within, beyond]
    authorised: dict[int, int] = defaultdict(int)
    in_force_months: dict[int, int] = defaultdict(int)
    plans: dict[int, PlanFact] = {}
    by_month: dict[Month, list[int]] = {}  # month -> [authorised, within, beyond]
    months, closed = kept.split_months(ctx)
    # The months not closed, allocated one at a time in the period's order.
    live = loaders.months(ctx, only=[m for m in months if m not in closed])
    kept_used = kept.plan_minutes(ctx, closed)
    in_plan = Category.WITHIN.value  # read once: 200,000 kept rows a year
    kept_plans = month_plans(ctx.session, [m for m in months if m in closed], ctx.antennas)
    for month in months:
        cell = by_month.setdefault(month, [0, 0, 0])
        billing = None
        if month in closed:
            in_force = kept_plans[month]
        else:
            _m, facts, billing = next(live)
            in_force = facts.plans
        for plan in in_force:
            if f.funder_code and plan.funder_code != f.funder_code:
                continue
            if not (
                plan.starts_on <= f.period.last
                and (plan.ends_on is None or plan.ends_on >= f.period.first)
            ):
                continue
            plans[plan.plan_id] = plan
            authorised[plan.plan_id] += plan.max_minutes
            in_force_months[plan.plan_id] += 1
            cell[0] += plan.max_minutes
        if billing is None:
            for plan_id, category, minutes in kept_used.get(period_of(month), ()):
                if plan_id not in plans:
                    continue
                slot = 0 if category == in_plan else 1
                used[plan_id][slot] += minutes
                cell[1 + slot] += minutes
            continue
        for vb in billing.visits:
            if not f.period.contains(vb.visit.service_date):
                continue
            for share in vb.shares:
                if share.plan is None or share.plan.plan_id not in plans:
                    continue
                slot = 0 if share.category is Category.WITHIN else 1
                used[share.plan.plan_id][slot] += share.minutes
                cell[1 + slot] += share.minutes
    bens = people(ctx.session, Beneficiary, (p.beneficiary_id for p in plans.values()))
    names = funders(ctx.session)
    ants = antenna_names(ctx.session)
    rows = []
    ordered_plans = sorted(plans.values(), key=lambda p: (bens[p.beneficiary_id].name, p.plan_id))
    # A page lists the first plans (a year of all antennas: 8,900 plans, 1 MB of HTML).
    for plan in ordered_plans[: ctx.listed]:
        ben = bens[plan.beneficiary_id]
        within, beyond = used[plan.plan_id]
        rows.append(
            Row(
                (
                    ben.name,
                    ants.get(ben.antenna_id, "?"),
                    names.get(plan.funder_code, (plan.funder_code,))[0],
                    plan.reference,
                    plan.service_code,
                    plan.max_minutes,
                    in_force_months[plan.plan_id],
                    authorised[plan.plan_id],
                    within,
                    beyond,
                    _percent(within + beyond, authorised[plan.plan_id]),
                ),
                links={
                    0: _person_link("beneficiary", plan.beneficiary_id),
                    8: visits_link(
                        ctx, beneficiary_id=plan.beneficiary_id, funder_code=plan.funder_code
                    ),
                },
                attrs={"data-plan": str(plan.plan_id)},
            )
        )
    total_auth = sum(authorised.values())
    total_within = sum(u[0] for u in used.values())
    total_beyond = sum(u[1] for u in used.values())
    detail = Table(
        "plans",
        f"Plans d'aide : autorisé et consommé, {f.period.label}",
        (
            Column("Bénéficiaire"),
            Column("Antenne"),
            Column("Financeur"),
            Column("Référence du plan"),
            Column("Prestation"),
            Column("Plafond mensuel", Kind.HOURS),
            Column("Mois en vigueur", Kind.INT),
            Column("Autorisé", Kind.HOURS),
            Column("Consommé dans le plan", Kind.HOURS),
            Column("Au-delà du plan", Kind.HOURS),
            Column("Taux de consommation", Kind.PERCENT),
        ),
        rows,
        total=Row(
            (
                "Total",
                "",
                "",
                "",
                "",
                None,
                None,
                total_auth,
                total_within,
                total_beyond,
                _percent(total_within + total_beyond, total_auth),
            )
        ),
        empty="Aucun plan d'aide en vigueur sur la période.",
        count=len(ordered_plans),
    )
    ordered = sorted(by_month)
    monthly = Table(
        "plans-mois",
        "Par mois : autorisé, consommé, au-delà",
        (
            Column("Mois"),
            Column("Autorisé", Kind.HOURS),
            Column("Consommé dans le plan", Kind.HOURS),
            Column("Au-delà du plan", Kind.HOURS),
            Column("Taux de consommation", Kind.PERCENT),
        ),
        [
            Row((m.label, *by_month[m], _percent(by_month[m][1] + by_month[m][2], by_month[m][0])))
            for m in ordered
        ],
    )
    chart = Chart(
        "graphique-plans",
        "Plans d'aide : heures autorisées et consommées par mois",
        [_month_label(m) for m in ordered],
        [
            ("Autorisé", [by_month[m][0] for m in ordered]),
            ("Consommé dans le plan", [by_month[m][1] for m in ordered]),
            ("Au-delà du plan", [by_month[m][2] for m in ordered]),
        ],
        category_label="Mois",
    )
    return Report(
        "Suivi des plans d'aide : autorisé et consommé",
        "Plafond mensuel de chaque plan en vigueur, et minutes retenues réparties entre les plans "
        "par la règle de la pré-facturation (d'abord les financeurs du Département, puis le plan "
        "le plus ancien).",
        [monthly, detail],
        [chart],
    )


# --- 3 and 6. Incomplete calls and their corrections -------------------------------------

INCOMPLETE_KINDS = (
    ("arrivee", "Arrivée non pointée"),
    ("depart", "Départ non pointé"),
    ("aucun", "Aucun appel (saisie manuelle)"),
    ("code", "Code intervenant inconnu ou absent"),
)
INCOMPLETE_LABELS = dict(INCOMPLETE_KINDS)
CORRECTED_CHOICES = (("corrige", "Corrigés"), ("a-corriger", "À corriger"))


@dataclass
class Incomplete:
    kind: str
    at: datetime
    day: date
    antenna_id: int | None
    worker_id: int | None
    beneficiary_id: int | None
    visit_id: int | None
    event_id: int | None
    corrected: bool
    corrected_at: datetime | None = None
    author: str = ""
    #: From when the call was missed (the visit appeared, or the call came) to its correction.
    delay: timedelta | None = None
    deleted: bool = False


#: Per key: [corrected, still to correct].
Counts = dict[Any, list[int]]


@dataclass
class Tally:
    """The period's incomplete calls counted, most of them by the database.

    At ten million visits a year's incomplete visits can be millions of rows (every
    visit entered by hand is one): the tables and the chart need only their counts.
    """

    by_kind: Counts = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_antenna: Counts = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_worker: Counts = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    #: (day, kind) -> [corrected, to correct].
    by_day: Counts = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    @property
    def count(self) -> int:
        return sum(sum(v) for v in self.by_antenna.values())

    def add(self, item: Incomplete) -> None:
        slot = 0 if item.corrected else 1
        self.by_kind[item.kind][slot] += 1
        self.by_antenna[item.antenna_id][slot] += 1
        self.by_worker[item.worker_id][slot] += 1
        self.by_day[(item.day, item.kind)][slot] += 1


def _first_version_at() -> ScalarSelect[datetime]:
    """When the visit appeared: its first version."""
    return (
        select(VisitVersion.created_at)
        .where(VisitVersion.visit_id == Visit.id)
        .order_by(VisitVersion.version)
        .limit(1)
        .scalar_subquery()
    )


def _incomplete_where(
    ctx: Context, days: list[tuple[date, date]] | None = None
) -> list[ColumnElement[bool]]:
    """The period's visits with a call missing, in the page's antennas, filters and options;
    only on these ``days`` (ranges) when given."""
    f = ctx.filters
    where = [
        Visit.service_date >= f.period.first,
        Visit.service_date <= f.period.last,
        missing_call(),
        in_antennas(Visit.antenna_id, ctx.antennas),
    ]
    if days is not None:
        where.append(or_(*(Visit.service_date.between(a, b) for a, b in days)))
    if f.worker_id is not None:
        where.append(Visit.worker_id == f.worker_id)
    if f.beneficiary_id is not None:
        where.append(Visit.beneficiary_id == f.beneficiary_id)
    kind = f.options.get("type")
    if kind:
        where.append(incomplete_kind() == kind)
    state = f.options.get("etat")
    if state:
        where.append(corrected() if state == "corrige" else not_(corrected()))
    return where


def _kept_call_months(ctx: Context) -> set[Month]:
    """The period's months whose incomplete calls the ledger counted at their close
    (``ledger.call_figures``); one beneficiary's are counted live (the counts have no
    beneficiary, and a beneficiary's month is small)."""
    if ctx.filters.beneficiary_id is not None:
        return set()
    return call_figures.kept_months(ctx.session, ctx.filters.period.months)


def _live_days(ctx: Context, kept: set[Month]) -> list[tuple[date, date]]:
    """The period's days outside the kept months, as ranges."""
    p = ctx.filters.period
    return Month.day_ranges((m for m in p.months if m not in kept), p.first, p.last)


def _kept_counts(ctx: Context, kept: set[Month]) -> Select[str, bool, int, int, date, int]:
    """The counts kept for these months, in the page's period, antennas, filters and
    options: the same columns as the live rows, ``n`` visits each."""
    f, k = ctx.filters, MonthCallFigure
    where = [
        k.period.in_(sorted(period_of(m) for m in kept)),
        k.service_date >= f.period.first,
        k.service_date <= f.period.last,
        in_antennas(k.antenna_id, ctx.antennas),
    ]
    if f.worker_id is not None:
        where.append(k.worker_id == f.worker_id)
    kind = f.options.get("type")
    if kind:
        where.append(k.kind == kind)
    state = f.options.get("etat")
    if state:
        where.append(k.corrected.is_(state == "corrige"))
    return select(
        k.kind, k.corrected, k.antenna_id, k.worker_id, k.service_date, k.visits.label("n")
    ).where(*where)


def _code_items(ctx: Context) -> list[Incomplete]:
    """The calls whose worker code was unknown or missing (few), with the options applied."""
    f = ctx.filters
    if f.worker_id is not None:
        return []
    kind, state = f.options.get("type"), f.options.get("etat")
    return [
        item
        for item in _unknown_code_calls(ctx)
        if (not kind or item.kind == kind) and (not state or item.corrected == (state == "corrige"))
    ]


def incomplete_tally(ctx: Context, codes: list[Incomplete], *, by_day: bool = True) -> Tally:
    """The incomplete visits counted by the database, and the calls with an unknown code
    counted here.

    One scan of the period's visits with a call missing, grouped twice (a CTE and
    ``UNION ALL``): by type, antenna and worker together (a worker has one antenna, so
    a few thousand groups that give the three tables), and by day and type for the
    chart. Without ``by_day`` (state 6), one ``GROUP BY`` by antenna that PostgreSQL runs
    without storing the scan (a year of all antennas is 3.3 million rows on the bench)."""
    kept = _kept_call_months(ctx)
    live_days = _live_days(ctx, kept)
    parts: list[Select[str, bool, int, int, date, int]] = []
    if kept:
        parts.append(_kept_counts(ctx, kept))
    if live_days:
        parts.append(
            select(
                incomplete_kind().label("kind"),
                corrected().label("corrected"),
                Visit.antenna_id,
                Visit.worker_id,
                Visit.service_date,
                literal(1, Integer).label("n"),
            ).where(*_incomplete_where(ctx, live_days))
        )
    items = (parts[0] if len(parts) == 1 else union_all(*parts)).cte("incomplete")
    c = items.c
    no_int, no_day = cast(null(), Integer), cast(null(), Date)
    count = func.sum(c.n).label("n")
    tally = Tally()
    if not by_day:
        for antenna, fixed, n in ctx.session.execute(
            select(c.antenna_id, c.corrected, count).group_by(c.antenna_id, c.corrected)
        ):
            tally.by_antenna[antenna][0 if fixed else 1] += n
        for item in codes:
            tally.add(item)
        return tally
    query = union_all(
        select(
            literal("people", String).label("tally"),
            c.kind,
            c.antenna_id,
            c.worker_id,
            no_day.label("day"),
            c.corrected,
            count,
        ).group_by(c.kind, c.antenna_id, c.worker_id, c.corrected),
        select(
            literal("day", String).label("tally"),
            c.kind,
            no_int.label("antenna_id"),
            no_int.label("worker_id"),
            c.service_date.label("day"),
            c.corrected,
            count,
        ).group_by(c.service_date, c.kind, c.corrected),
    )
    for name, kind, antenna, worker, day, fixed, n in ctx.session.execute(query):
        slot = 0 if fixed else 1
        if name == "day":
            # SQLite gives the date of a union back as text.
            on = day if isinstance(day, date) else date.fromisoformat(day)
            tally.by_day[(on, kind)][slot] += n
            continue
        tally.by_antenna[antenna][slot] += n
        tally.by_kind[kind][slot] += n
        tally.by_worker[worker][slot] += n
    for item in codes:
        tally.add(item)
    return tally


def _last_listed_day(counted: Tally, listed: int | None) -> date | None:
    """The day by which the period has ``listed`` incomplete calls (None: all are listed).

    The list is in order of day first: the visits after that day cannot be among the
    first ``listed``, so the database sorts only those up to it, not a year of them."""
    if listed is None:
        return None
    per_day: Counter[date] = Counter()
    for (day, _kind), v in counted.by_day.items():
        per_day[day] += sum(v)
    seen = 0
    for day in sorted(per_day):
        seen += per_day[day]
        if seen >= listed:
            return day
    return None


def incomplete_items(
    ctx: Context, codes: list[Incomplete], until: date | None = None
) -> list[Incomplete]:
    """The incomplete calls to list: by day and time, the first ``ctx.listed`` of them
    (a page) or all (a file); none after ``until``."""
    s = ctx.session
    where = _incomplete_where(ctx)
    if until is not None:
        where.append(Visit.service_date <= until)
    query = (
        select(
            Visit.id,
            Visit.service_date,
            Visit.antenna_id,
            Visit.worker_id,
            Visit.beneficiary_id,
            Visit.status,
            Visit.arrival_event_id,
            Visit.departure_event_id,
            Visit.started_at,
            Visit.ended_at,
        )
        .where(*where)
        .order_by(
            Visit.service_date,
            func.coalesce(Visit.started_at, Visit.ended_at, _first_version_at()),
            Visit.id,
        )
    )
    if ctx.listed is not None:
        query = query.limit(ctx.listed)
    visits = s.execute(query).all()
    versions = _versions(s, [v[0] for v in visits])
    items: list[Incomplete] = []
    for vid, day, antenna, wid, bid, status, arrival, departure, start, end in visits:
        kind = (
            "aucun"
            if arrival is None and departure is None
            else ("arrivee" if arrival is None else "depart")
        )
        history = versions.get(vid, [])
        first_at = history[0][1] if history else None
        fix = next(
            ((v, at, author) for v, at, author, motive in history if motive is not None), None
        )
        anchor = _first(start, end) or first_at or ctx.now
        item = Incomplete(
            kind,
            anchor,
            day,
            antenna,
            wid,
            bid,
            vid,
            None,
            corrected=status is not VisitStatus.INCOMPLETE or fix is not None,
            deleted=status is VisitStatus.DELETED,
        )
        if fix is not None:
            item.corrected_at, item.author = fix[1], fix[2]
            item.delay = _delay(kind, start, end, first_at, fix[1])
        items.append(item)
    items = sorted(items + codes, key=lambda i: (i.day, i.at))
    return items if ctx.listed is None else items[: ctx.listed]


def _delay(
    kind: str,
    start: datetime | None,
    end: datetime | None,
    first_at: datetime | None,
    fixed_at: datetime,
) -> timedelta:
    """From when a visit's call was missed to its correction: a visit entered by hand was
    missed when it ended; another when it appeared. On PostgreSQL ``incomplete_fixes``
    says the same in SQL (a year's 83,000 rows); the tests of state 6 run on both
    databases against the same expected delays."""
    since = (_first(end, start) if kind == "aucun" else first_at) or fixed_at
    return max(fixed_at - since, timedelta(0))


def incomplete_fixes(ctx: Context) -> list[tuple[int | None, str, timedelta]]:
    """(antenna, author, delay) of each incomplete visit corrected by a version with a
    motive (its first), read by the database without the others.

    Each of the period's incomplete visits finds its first fix through the index on the
    visit's versions (a ``LATERAL`` join on PostgreSQL, which SQLite has not: there a
    subquery correlated on the visit, which SQLite runs per visit the same way), not by
    grouping every version with a motive in the database (250,000 on the bench, of all
    periods and antennas) before joining: 2.7 s down to 1.2 s for a year of all antennas,
    0.33 s to 0.04 s for one antenna's month."""
    first = select().where(VisitVersion.visit_id == Visit.id, VisitVersion.motive.is_not(None))
    first = first.order_by(VisitVersion.version).limit(1)
    where = _incomplete_where(ctx)
    if ctx.session.get_bind().dialect.name == "postgresql":
        # ``_delay`` said in SQL: three columns a row to read, not five with three
        # moments to convert (a year of all antennas is 83,000 corrections on the bench);
        # the visit's first version read only where it is the anchor.
        fix = first.add_columns(VisitVersion.created_at, VisitVersion.author).lateral("fix")
        since = case(
            (
                and_(Visit.arrival_event_id.is_(None), Visit.departure_event_id.is_(None)),
                func.coalesce(Visit.ended_at, Visit.started_at, fix.c.created_at),
            ),
            else_=func.coalesce(_first_version_at(), fix.c.created_at),
        )
        delay = func.greatest(fix.c.created_at - since, literal(timedelta(0)))
        return [
            (antenna, author, delay)
            for antenna, author, delay in ctx.session.execute(
                select(Visit.antenna_id, fix.c.author, type_coerce(delay, Interval))
                .join(fix, true())
                .where(*where)
            )
        ]
    version = aliased(VisitVersion)
    query = (
        select(
            Visit.antenna_id,
            incomplete_kind(),
            Visit.started_at,
            Visit.ended_at,
            _first_version_at(),
            version.created_at,
            version.author,
        )
        .join(version, version.id == first.add_columns(VisitVersion.id).scalar_subquery())
        .where(*where)
    )
    return [
        (
            antenna,
            author,
            _delay(
                kind,
                start,
                end,
                None if first_at is None else as_utc(first_at),
                as_utc(fixed_at),
            ),
        )
        for antenna, kind, start, end, first_at, fixed_at, author in ctx.session.execute(query)
    ]


def _versions(s: Session, ids: list[int]) -> dict[int, list[tuple[int, datetime, str, object]]]:
    found: dict[int, list[tuple[int, datetime, str, object]]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        for vid, version, created, author, motive in s.execute(
            select(
                VisitVersion.visit_id,
                VisitVersion.version,
                VisitVersion.created_at,
                VisitVersion.author,
                VisitVersion.motive,
            )
            .where(VisitVersion.visit_id.in_(ids[start : start + CHUNK]))
            .order_by(VisitVersion.visit_id, VisitVersion.version)
        ):
            found[vid].append((version, as_utc(created), author, motive))
    return found


def _attached(s: Session, event_ids: list[int]) -> dict[int, int]:
    """Call event id -> the visit it was attached to."""
    found: dict[int, int] = {}
    for start in range(0, len(event_ids), CHUNK):
        chunk = event_ids[start : start + CHUNK]
        for vid, arrival, departure in s.execute(
            select(Visit.id, Visit.arrival_event_id, Visit.departure_event_id).where(
                or_(Visit.arrival_event_id.in_(chunk), Visit.departure_event_id.in_(chunk))
            )
        ):
            for event in (arrival, departure):
                if event is not None:
                    found[event] = vid
    return found


def _calls_in_period(ctx: Context, kinds: tuple[Identification, ...]) -> list[CallEvent]:
    f = ctx.filters
    first, last = f.period.bounds_utc()
    # A call not identified has no beneficiary or no worker (``ivr.services.identification``;
    # a call event is never updated): said here too, so that PostgreSQL reads the few such
    # calls through their partial index, not a year of every call by ``received_at``.
    assert Identification.OK not in kinds
    query = select(CallEvent).where(
        CallEvent.received_at >= first,
        CallEvent.received_at < last,
        CallEvent.identification.in_(kinds),
        or_(CallEvent.beneficiary_id.is_(None), CallEvent.worker_id.is_(None)),
        in_antennas(CallEvent.antenna_id, ctx.antennas),
    )
    if f.beneficiary_id is not None:
        query = query.where(CallEvent.beneficiary_id == f.beneficiary_id)
    return list(ctx.session.scalars(query.order_by(CallEvent.received_at, CallEvent.id)))


def _unknown_code_calls(ctx: Context) -> list[Incomplete]:
    calls = [
        c
        for c in _calls_in_period(ctx, (Identification.UNKNOWN_WORKER, Identification.NO_CODE))
        if c.beneficiary_id is not None
    ]
    attached = _attached(ctx.session, [c.id for c in calls])
    versions = _versions(ctx.session, sorted(set(attached.values())))
    items = []
    for call in calls:
        at = as_utc(call.received_at)
        visit_id = attached.get(call.id)
        item = Incomplete(
            "code",
            at,
            paris_date(at),
            call.antenna_id,
            None,
            call.beneficiary_id,
            visit_id,
            call.id,
            corrected=visit_id is not None,
        )
        if visit_id is not None:
            fix = next(
                (
                    (v, when, who)
                    for v, when, who, motive in versions.get(visit_id, [])
                    if motive is not None
                ),
                None,
            )
            if fix is not None:
                item.corrected_at, item.author = fix[1], fix[2]
                item.delay = max(fix[1] - at, timedelta(0))
        items.append(item)
    return items


def _buckets(ctx: Context) -> tuple[list[str], Callable[[date], int]]:
    """The x axis of a chart over the period: days, weeks or months."""
    p = ctx.filters.period
    if p.days <= 31:
        days = [p.first + timedelta(days=i) for i in range(p.days)]
        return [d.strftime("%d/%m") for d in days], lambda d: (d - p.first).days
    if p.days <= 92:
        mondays = []
        monday = p.first - timedelta(days=p.first.weekday())
        while monday <= p.last:
            mondays.append(monday)
            monday += timedelta(days=7)
        return [f"sem. {m.isocalendar()[1]}" for m in mondays], lambda d: (d - mondays[0]).days // 7
    months = p.months
    return [_month_label(m) for m in months], lambda d: months.index(Month.of(d))


#: State 3's detail: one line per incomplete call (``bench/extranet/pdf.py`` draws the same).
INCOMPLETE_DETAIL_COLUMNS = (
    Column("Date", Kind.DATETIME),
    Column("Antenne"),
    Column("Intervenant"),
    Column("Bénéficiaire"),
    Column("Type"),
    Column("État"),
    Column("Corrigé le", Kind.DATETIME),
    Column("Par"),
    Column("Voir"),
)


def incomplete_calls(ctx: Context) -> Report:
    f = ctx.filters
    codes = _code_items(ctx)
    counted = incomplete_tally(ctx, codes)
    items = incomplete_items(ctx, codes, _last_listed_day(counted, ctx.listed))
    ants = antenna_names(ctx.session)
    workers = people(
        ctx.session,
        Worker,
        {*(w for w in counted.by_worker if w), *(i.worker_id for i in items if i.worker_id)},
    )
    bens = people(ctx.session, Beneficiary, (i.beneficiary_id for i in items if i.beneficiary_id))
    by_kind = counted.by_kind
    summary = Table(
        "incomplets-types",
        f"Appels incomplets par type, {f.period.label}",
        (
            Column("Type"),
            Column("Corrigés", Kind.INT),
            Column("À corriger", Kind.INT),
            Column("Total", Kind.INT),
        ),
        [
            Row((label, *by_kind[value], sum(by_kind[value])))
            for value, label in INCOMPLETE_KINDS
            if value in by_kind
        ],
        total=Row(
            (
                "Total",
                sum(v[0] for v in by_kind.values()),
                sum(v[1] for v in by_kind.values()),
                counted.count,
            )
        ),
    )
    by_antenna = counted.by_antenna
    antennas = Table(
        "incomplets-antennes",
        "Par antenne",
        (
            Column("Antenne"),
            Column("Corrigés", Kind.INT),
            Column("À corriger", Kind.INT),
            Column("Total", Kind.INT),
        ),
        [
            Row((ants.get(a, "Sans antenne") if isinstance(a, int) else "Sans antenne", *v, sum(v)))
            for a, v in sorted(
                by_antenna.items(),
                key=lambda kv: ants.get(kv[0], "") if isinstance(kv[0], int) else "",
            )
        ],
    )
    worker_rows = []
    # Most incomplete first; equal counts by name then id, not in the order the
    # database happened to give them (which differs between kept and live counts).
    for wid, v in sorted(
        counted.by_worker.items(),
        key=lambda kv: (
            -sum(kv[1]),
            kv[0] is None,
            workers[kv[0]].name if kv[0] is not None else "",
            kv[0] or 0,
        ),
    ):
        if wid is None:
            worker_rows.append(Row(("Intervenant non identifié", "", *v, sum(v))))
            continue
        assert isinstance(wid, int)
        w = workers[wid]
        worker_rows.append(
            Row(
                (w.name, ants.get(w.antenna_id, "?"), *v, sum(v)),
                links={0: _person_link("worker", wid)},
            )
        )
    per_worker = Table(
        "incomplets-intervenants",
        "Par intervenant",
        (
            Column("Intervenant"),
            Column("Antenne"),
            Column("Corrigés", Kind.INT),
            Column("À corriger", Kind.INT),
            Column("Total", Kind.INT),
        ),
        worker_rows,
    )
    detail_rows = []
    for item in items:
        link = (
            url_for("visits.detail", visit_id=item.visit_id)
            if item.visit_id is not None
            else url_for("calls.attach", event_id=item.event_id)
        )
        detail_rows.append(
            Row(
                (
                    item.at,
                    ants.get(item.antenna_id, "Sans antenne")
                    if item.antenna_id
                    else "Sans antenne",
                    workers[item.worker_id].name if item.worker_id else "—",
                    bens[item.beneficiary_id].name if item.beneficiary_id else "—",
                    INCOMPLETE_LABELS[item.kind],
                    ("Supprimée" if item.deleted else "Corrigé")
                    if item.corrected
                    else "À corriger",
                    item.corrected_at,
                    item.author,
                    f"Intervention {item.visit_id}" if item.visit_id else f"Appel {item.event_id}",
                ),
                links={8: link},
            )
        )
    detail = Table(
        "incomplets",
        "Détail des appels incomplets",
        INCOMPLETE_DETAIL_COLUMNS,
        detail_rows,
        empty="Aucun appel incomplet sur la période.",
        count=counted.count,
    )
    labels, index = _buckets(ctx)
    series: dict[str, list[int]] = {label: [0] * len(labels) for _v, label in INCOMPLETE_KINDS}
    for (day, kind), v in counted.by_day.items():
        slot = index(day)
        if 0 <= slot < len(labels):
            series[INCOMPLETE_LABELS[kind]][slot] += sum(v)
    chart = Chart(
        "graphique-incomplets",
        "Appels incomplets dans le temps, par type",
        labels,
        [(name, values) for name, values in series.items() if any(values)]
        or [("Appels incomplets", [0] * len(labels))],
        kind=Kind.INT,
        stacked=True,
        category_label="Période",
    )
    return Report(
        "Appels incomplets",
        "Interventions dont l'arrivée ou le départ n'a pas été pointé, saisies à la main, et "
        "appels "
        "dont le code intervenant manquait ; corrigés (nouvelle version avec motif, ou appel "
        "rattaché) ou non. "
        "Les appels de numéros inconnus ou masqués sont dans l'état « Bénéficiaires non "
        "identifiés ».",
        [summary, antennas, per_worker, detail],
        [chart],
    )


def _with_antenna(f: Filters, antenna_id: int | None) -> dict[str, Any]:
    args: dict[str, Any] = f.args()
    if antenna_id is not None:
        args["antenne"] = str(antenna_id)
    return args


TWO_DAYS = timedelta(days=2)
DELAY_BANDS = (
    (timedelta(hours=24), "Moins de 24 h"),
    (timedelta(days=2), "De 24 à 48 h"),
    (timedelta(days=7), "De 2 à 7 jours"),
    (timedelta.max, "Plus de 7 jours"),
)


def _median(values: list[timedelta], zeros: int = 0) -> timedelta | None:
    """The median of ``values`` and ``zeros`` more delays of nothing (the lower of two)."""
    if not values and not zeros:
        return None
    middle = (len(values) + zeros - 1) // 2
    return timedelta(0) if middle < zeros else sorted(values)[middle - zeros]


def correction_rate(ctx: Context) -> Report:
    f = ctx.filters
    codes = _code_items(ctx)
    counted = incomplete_tally(ctx, codes, by_day=False)
    #: (antenna, author, delay) of each correction with a motive, visits and calls.
    fixes = incomplete_fixes(ctx) + [
        (i.antenna_id, i.author, i.delay) for i in codes if i.delay is not None
    ]
    # In order of delay: every list of delays below is sorted, its medians and its counts
    # under a limit read by bisection (a year of all antennas is 83,000 on the bench).
    fixes.sort(key=itemgetter(2))
    ants = antenna_names(ctx.session)
    logins = {author for _a, author, _d in fixes if author}
    names = (
        dict(
            ctx.session.execute(
                select(User.login, User.name).where(User.login.in_(sorted(logins)))
            ).all()
        )
        if logins
        else {}
    )
    delays_of: dict[int | None, list[timedelta]] = defaultdict(list)
    for antenna_id, _author, delay in fixes:
        delays_of[antenna_id].append(delay)
    rows = []
    for antenna_id, (fixed, unfixed) in sorted(
        counted.by_antenna.items(), key=lambda kv: ants.get(kv[0] or 0, "")
    ):
        delays = delays_of[antenna_id]
        within = bisect_left(delays, TWO_DAYS)
        rows.append(
            Row(
                (
                    ants.get(antenna_id or 0, "Sans antenne"),
                    fixed + unfixed,
                    fixed,
                    _percent(fixed, fixed + unfixed),
                    _median(delays),
                    _percent(within, len(delays)),
                ),
                links={
                    1: url_for(
                        "stats.state",
                        slug="appels-incomplets",
                        **_with_antenna(f, antenna_id),
                    )
                },
            )
        )
    all_fixed = sum(v[0] for v in counted.by_antenna.values())
    all_delays = [d for _a, _author, d in fixes]
    by_antenna = Table(
        "correction-antennes",
        f"Taux de correction par antenne, {f.period.label}",
        (
            Column("Antenne"),
            Column("Appels incomplets", Kind.INT),
            Column("Corrigés", Kind.INT),
            Column("Taux de correction", Kind.PERCENT),
            Column("Délai médian", Kind.DELAY),
            Column("Corrigés en moins de 48 h", Kind.PERCENT),
        ),
        rows,
        total=Row(
            (
                "Total",
                counted.count,
                all_fixed,
                _percent(all_fixed, counted.count),
                _median(all_delays),
                _percent(bisect_left(all_delays, TWO_DAYS), len(all_delays)),
            )
        ),
    )
    # A correction without a motive (entered by hand, completed by a call, deleted) has no
    # author: it counts under "—" with no delay, as many as the antenna's corrected items
    # without a version with a motive.
    per_author: dict[tuple[int | None, str], list[timedelta]] = defaultdict(list)
    for antenna_id, author, delay in fixes:
        per_author[(antenna_id, author)].append(delay)
    silent = {
        antenna_id: fixed - len(delays_of[antenna_id])
        for antenna_id, (fixed, _unfixed) in counted.by_antenna.items()
        if fixed > len(delays_of[antenna_id])
    }
    for antenna_id in silent:
        per_author.setdefault((antenna_id, ""), [])
    author_rows = []
    for (antenna_id, author), delays in sorted(
        per_author.items(), key=lambda kv: (ants.get(kv[0][0] or 0, ""), kv[0][1])
    ):
        zeros = silent.get(antenna_id, 0) if author == "" else 0
        author_rows.append(
            Row(
                (
                    ants.get(antenna_id or 0, "Sans antenne"),
                    names.get(author, author or "—"),
                    len(delays) + zeros,
                    _median(delays, zeros),
                    max(delays) if delays else (timedelta(0) if zeros else None),
                )
            )
        )
    by_author = Table(
        "correction-responsables",
        "Par antenne et par responsable qui a corrigé",
        (
            Column("Antenne"),
            Column("Responsable"),
            Column("Corrections", Kind.INT),
            Column("Délai médian", Kind.DELAY),
            Column("Délai le plus long", Kind.DELAY),
        ),
        author_rows,
    )
    bands: Counter[str] = Counter()
    below = 0
    for limit, label in DELAY_BANDS:
        under = bisect_left(all_delays, limit)
        bands[label], below = under - below, under
    by_delay = Table(
        "correction-delais",
        "Corrections par délai",
        (Column("Délai"), Column("Corrections", Kind.INT), Column("Part", Kind.PERCENT)),
        [
            Row((label, bands[label], _percent(bands[label], len(all_delays))))
            for _l, label in DELAY_BANDS
        ],
    )
    return Report(
        "Taux de correction des appels incomplets",
        "Part des appels incomplets corrigés (nouvelle version avec motif, saisie manuelle ou "
        "appel rattaché), "
        "et délai entre l'appel manqué (ou la fin de l'intervention saisie à la main) et sa "
        "correction.",
        [by_antenna, by_author, by_delay],
    )


# --- 4. Beneficiaries by funder ----------------------------------------------------------


@dataclass
class FunderSlot:
    name: str
    kind: FunderKind
    beneficiaries: set[int] = field(default_factory=set)
    plans: int = 0
    max_minutes: int = 0


def beneficiaries_by_funder(ctx: Context) -> Report:
    f = ctx.filters
    query = (
        select(CarePlan, Funder.code, Funder.name, Funder.kind, Beneficiary.antenna_id)
        .join(Funder, Funder.id == CarePlan.funder_id)
        .join(Beneficiary, Beneficiary.id == CarePlan.beneficiary_id)
        .where(
            CarePlan.starts_on <= f.period.last,
            or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= f.period.first),
            in_antennas(Beneficiary.antenna_id, ctx.antennas),
        )
        .order_by(Funder.name, CarePlan.id)
    )
    if f.funder_code:
        query = query.where(Funder.code == f.funder_code)
    if f.beneficiary_id is not None:
        query = query.where(CarePlan.beneficiary_id == f.beneficiary_id)
    plans = ctx.session.execute(query).all()
    bens = people(ctx.session, Beneficiary, (p.beneficiary_id for p, *_ in plans[: ctx.listed]))
    ants = antenna_names(ctx.session)
    done: dict[str, int] = defaultdict(int)
    months, closed = kept.split_months(ctx)
    for _month, vb in billed(ctx, only=[m for m in months if m not in closed]):
        for share in shares(vb, f.funder_code):
            if share.plan is not None:
                done[share.plan.funder_code] += share.minutes
    for code, minutes in kept.funder_minutes(ctx, closed).items():
        done[code] += minutes
    per_funder: dict[str, FunderSlot] = {}
    detail_rows: list[Row] = []
    for plan, code, name, kind, antenna_id in plans:
        slot = per_funder.setdefault(code, FunderSlot(name, kind))
        slot.beneficiaries.add(plan.beneficiary_id)
        slot.plans += 1
        slot.max_minutes += plan_minutes(float(plan.max_hours))
        if ctx.listed is not None and len(detail_rows) >= ctx.listed:
            continue  # a page lists the first plans (a year of all antennas: 8,900)
        ben = bens[plan.beneficiary_id]
        detail_rows.append(
            Row(
                (
                    name,
                    code,
                    ben.name,
                    ben.external_id,
                    ants.get(antenna_id, "?"),
                    plan.reference,
                    plan.service_code,
                    plan_minutes(float(plan.max_hours)),
                    plan.starts_on,
                    plan.ends_on,
                ),
                links={2: _person_link("beneficiary", plan.beneficiary_id)},
            )
        )
    ordered = sorted(per_funder.items(), key=lambda kv: kv[1].name)
    summary_rows = [
        Row(
            (
                slot.name,
                code,
                loaders.FUNDER_KIND_LABELS.get(slot.kind, str(slot.kind)),
                len(slot.beneficiaries),
                slot.plans,
                slot.max_minutes,
                done.get(code, 0),
            ),
            links={6: visits_link(ctx, funder_code=code)},
        )
        for code, slot in ordered
    ]
    summary = Table(
        "financeurs",
        f"Bénéficiaires par financeur, {f.period.label}",
        (
            Column("Financeur"),
            Column("Code"),
            Column("Type d'aide"),
            Column("Bénéficiaires", Kind.INT),
            Column("Plans d'aide", Kind.INT),
            Column("Heures autorisées par mois", Kind.HOURS),
            Column("Heures réalisées sur la période", Kind.HOURS),
        ),
        summary_rows,
        total=Row(
            (
                "Total (bénéficiaires distincts)",
                "",
                "",
                len({p.beneficiary_id for p, *_ in plans}),
                len(plans),
                sum(s.max_minutes for s in per_funder.values()),
                sum(done.values()),
            )
        ),
        empty="Aucun plan d'aide en vigueur sur la période.",
    )
    detail = Table(
        "financeurs-beneficiaires",
        "Bénéficiaires et leurs plans d'aide",
        (
            Column("Financeur"),
            Column("Code"),
            Column("Bénéficiaire"),
            Column("Identifiant"),
            Column("Antenne"),
            Column("Référence du plan"),
            Column("Prestation"),
            Column("Plafond mensuel", Kind.HOURS),
            Column("Début", Kind.DATE),
            Column("Fin", Kind.DATE),
        ),
        detail_rows,
        count=len(plans),
    )
    chart = Chart(
        "graphique-financeurs",
        "Bénéficiaires par financeur",
        [code for code, _slot in ordered],
        [("Bénéficiaires", [len(slot.beneficiaries) for _code, slot in ordered])],
        kind=Kind.INT,
        category_label="Financeur",
    )
    return Report(
        "Bénéficiaires par financeur",
        "Bénéficiaires ayant un plan d'aide en vigueur pendant la période, par financeur, avec "
        "les heures "
        "réalisées (minutes retenues de la pré-facturation).",
        [summary, detail],
        [chart],
    )


# --- 5. Beneficiaries not identified by the IVR ------------------------------------------


def unidentified(ctx: Context) -> Report:
    calls = _calls_in_period(ctx, (Identification.UNKNOWN_NUMBER, Identification.WITHHELD_NUMBER))
    attached = _attached(ctx.session, [c.id for c in calls])
    numbers = sorted({c.caller_e164 for c in calls if c.caller_e164})
    known: dict[str, list[int]] = defaultdict(list)
    for start in range(0, len(numbers), CHUNK):
        for e164, bid in ctx.session.execute(
            select(Phone.e164, Phone.beneficiary_id)
            .join(Beneficiary, Beneficiary.id == Phone.beneficiary_id)
            .where(
                Phone.e164.in_(numbers[start : start + CHUNK]),
                in_antennas(Beneficiary.antenna_id, ctx.antennas),
            )
        ):
            known[e164].append(bid)
    bens = people(ctx.session, Beneficiary, [b for ids in known.values() for b in ids])
    workers = people(ctx.session, Worker, (c.worker_id for c in calls if c.worker_id))
    ants = antenna_names(ctx.session)

    def number_of(call: CallEvent) -> str:
        if call.identification is Identification.WITHHELD_NUMBER or not (
            call.caller_e164 or call.caller_raw
        ):
            return "Numéro masqué"
        return call.caller_e164 or call.caller_raw or ""

    def fate(call: CallEvent) -> str:
        if call.caller_e164 and call.caller_e164 in known:
            return "Numéro ajouté" if call.id in attached else "Numéro connu depuis"
        return "Rattaché" if call.id in attached else "Non traité"

    groups: dict[str, list[CallEvent]] = defaultdict(list)
    for call in calls:
        groups[number_of(call)].append(call)
    summary_rows = []
    for number, group in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        e164 = group[0].caller_e164 or ""
        owner = known.get(e164, [])
        n_attached = sum(1 for c in group if c.id in attached)
        status = (
            "Numéro ajouté à un bénéficiaire"
            if owner
            else ("Appels rattachés" if n_attached == len(group) else "À traiter")
        )
        links = {5: _person_link("beneficiary", owner[0])} if owner else {}
        summary_rows.append(
            Row(
                (
                    number,
                    len(group),
                    as_utc(group[0].received_at),
                    as_utc(group[-1].received_at),
                    n_attached,
                    ", ".join(bens[b].name for b in owner) if owner else "—",
                    len(group) - n_attached,
                    status,
                ),
                links=links,
            )
        )
    summary = Table(
        "non-identifies-numeros",
        f"Appels de numéros inconnus ou masqués, par numéro, {ctx.filters.period.label}",
        (
            Column("Numéro"),
            Column("Appels", Kind.INT),
            Column("Premier appel", Kind.DATETIME),
            Column("Dernier appel", Kind.DATETIME),
            Column("Rattachés", Kind.INT),
            Column("Bénéficiaire du numéro"),
            Column("Non traités", Kind.INT),
            Column("Devenir"),
        ),
        summary_rows,
        total=Row(
            (
                "Total",
                len(calls),
                None,
                None,
                sum(1 for c in calls if c.id in attached),
                "",
                sum(1 for c in calls if c.id not in attached),
                "",
            )
        ),
        empty="Aucun appel de numéro inconnu ou masqué sur la période.",
    )
    detail_rows = []
    for call in calls:
        visit_id = attached.get(call.id)
        link = (
            url_for("visits.detail", visit_id=visit_id)
            if visit_id is not None
            else url_for("calls.attach", event_id=call.id)
        )
        detail_rows.append(
            Row(
                (
                    as_utc(call.received_at),
                    number_of(call),
                    call.digits or "",
                    workers[call.worker_id].name if call.worker_id else "Non identifié",
                    ants.get(call.antenna_id, "Sans antenne")
                    if call.antenna_id
                    else "Sans antenne",
                    fate(call),
                    f"Intervention {visit_id}" if visit_id else "Rattacher",
                ),
                links={6: link},
            )
        )
    detail = Table(
        "non-identifies",
        "Détail des appels",
        (
            Column("Reçu le", Kind.DATETIME),
            Column("Numéro"),
            Column("Code saisi"),
            Column("Intervenant"),
            Column("Antenne"),
            Column("Devenir"),
            Column("Voir"),
        ),
        detail_rows,
    )
    return Report(
        "Bénéficiaires non identifiés par le serveur vocal",
        "Appels reçus d'un numéro inconnu ou masqué, et ce qu'ils sont devenus : rattachés à une "
        "intervention, "
        "numéro ajouté à la fiche d'un bénéficiaire, ou toujours à traiter.",
        [summary, detail],
    )


# --- 7 and 8. Planning against done --------------------------------------------------------


@dataclass(frozen=True)
class Done:
    visit_id: int
    #: The worker for a beneficiary's planning, the beneficiary for a worker's.
    other_id: int
    started_at: datetime | None
    ended_at: datetime | None
    day: date
    status: VisitStatus

    @property
    def anchor(self) -> datetime | None:
        return _first(self.started_at, self.ended_at)


def _pair(
    planned: list[PlannedVisit], done: list[Done], key: str
) -> list[tuple[date, datetime | None, PlannedVisit | None, Done | None]]:
    """Each planned visit with the done visit of the same other person that day starting
    nearest to it; what is left is not done, or not planned."""
    free: dict[tuple[date, int], list[Done]] = defaultdict(list)
    for row in done:
        free[(row.day, row.other_id)].append(row)
    lines: list[tuple[date, datetime | None, PlannedVisit | None, Done | None]] = []
    for plan in planned:
        other = plan.worker_id if key == "beneficiary" else plan.beneficiary_id
        start = as_utc(plan.starts_at)
        day = paris_date(start)
        candidates = [
            (abs(r.anchor - start), r.visit_id, r) for r in free[(day, other)] if r.anchor
        ]
        match = min(candidates, default=None)
        if match is not None:
            free[(day, other)].remove(match[2])
        lines.append((day, start, plan, match[2] if match else None))
    for rows in free.values():
        for row in rows:
            lines.append((row.day, row.anchor, None, row))
    floor = datetime.min.replace(tzinfo=as_utc(datetime(2000, 1, 1)).tzinfo)
    lines.sort(key=lambda ln: (ln[0], ln[1] or floor))
    return lines


def _planning(ctx: Context, key: str) -> Report:
    f = ctx.filters
    person_id = f.beneficiary_id if key == "beneficiary" else f.worker_id
    what = "bénéficiaire" if key == "beneficiary" else "intervenant"
    title = f"Planning d'un {what} : prévu et réalisé"
    if person_id is None:
        return Report(title, "", prompt=f"Choisissez un {what} pour afficher son planning.")
    first, last = f.period.bounds_utc()
    planned_q = select(PlannedVisit).where(
        PlannedVisit.starts_at >= first,
        PlannedVisit.starts_at < last,
        in_antennas(PlannedVisit.antenna_id, ctx.antennas),
        PlannedVisit.beneficiary_id == person_id
        if key == "beneficiary"
        else PlannedVisit.worker_id == person_id,
    )
    planned = list(ctx.session.scalars(planned_q.order_by(PlannedVisit.starts_at)))
    other_column = Visit.worker_id if key == "beneficiary" else Visit.beneficiary_id
    visit_q = select(
        Visit.id, other_column, Visit.started_at, Visit.ended_at, Visit.service_date, Visit.status
    ).where(
        Visit.service_date >= f.period.first,
        Visit.service_date <= f.period.last,
        Visit.status != VisitStatus.DELETED,
        in_antennas(Visit.antenna_id, ctx.antennas),
        Visit.beneficiary_id == person_id if key == "beneficiary" else Visit.worker_id == person_id,
    )
    done = [Done(*row) for row in ctx.session.execute(visit_q.order_by(Visit.started_at, Visit.id))]
    kept = {
        vb.visit.visit_id: vb.kept.minutes for _m, vb in billed(ctx, worker_only=key == "worker")
    }
    others = people(
        ctx.session,
        Worker if key == "beneficiary" else Beneficiary,
        [p.worker_id if key == "beneficiary" else p.beneficiary_id for p in planned]
        + [d.other_id for d in done],
    )
    table_rows = []
    weeks: dict[tuple[int, int], list[int]] = {}
    for day, _at, plan, row in _pair(planned, done, key):
        planned_minutes = recorded_minutes(plan.starts_at, plan.ends_at) if plan else None
        done_minutes = kept.get(row.visit_id, 0) if row else None
        if plan is not None:
            other = plan.worker_id if key == "beneficiary" else plan.beneficiary_id
        else:
            assert row is not None
            other = row.other_id
        if row is None:
            state = "Non réalisée"
        elif plan is None:
            state = "Non planifiée"
        elif row.status is VisitStatus.INCOMPLETE:
            state = "Incomplète"
        else:
            state = "Réalisée"
        year, week, _ = day.isocalendar()
        totals = weeks.setdefault((year, week), [0, 0, 0, 0])
        totals[0] += planned_minutes or 0
        totals[1] += done_minutes or 0
        totals[2] += 1 if plan else 0
        totals[3] += 1 if row else 0
        links = {2: _person_link("worker" if key == "beneficiary" else "beneficiary", other)}
        if row is not None:
            links[4] = url_for("visits.detail", visit_id=row.visit_id)
        table_rows.append(
            Row(
                (
                    day,
                    f"{_clock(plan.starts_at)}–{_clock(plan.ends_at)}" if plan else "—",
                    others[other].name if other in others else "?",
                    state,
                    f"{_clock(row.started_at)}–{_clock(row.ended_at)}" if row else "—",
                    planned_minutes,
                    done_minutes,
                    (done_minutes or 0) - (planned_minutes or 0),
                ),
                links=links,
            )
        )
    who = people(ctx.session, Beneficiary if key == "beneficiary" else Worker, [person_id])
    name = who[person_id].name if person_id in who else "?"
    other_label = "Intervenant" if key == "beneficiary" else "Bénéficiaire"
    detail = Table(
        "planning",
        f"Planning de {name}, {f.period.label}",
        (
            Column("Jour", Kind.DATE),
            Column("Prévu"),
            Column(other_label),
            Column("État"),
            Column("Réalisé"),
            Column("Durée prévue", Kind.HOURS),
            Column("Durée réalisée (retenue)", Kind.HOURS),
            Column("Écart", Kind.HOURS),
        ),
        table_rows,
        empty="Rien de prévu ni de réalisé sur la période.",
    )
    week_rows = [
        Row((f"Semaine {w} de {y}", t[2], t[3], t[0], t[1], t[1] - t[0]))
        for (y, w), t in sorted(weeks.items())
    ]
    total = [sum(t[i] for t in weeks.values()) for i in range(4)]
    weekly = Table(
        "planning-semaines",
        "Par semaine",
        (
            Column("Semaine"),
            Column("Interventions prévues", Kind.INT),
            Column("Interventions réalisées", Kind.INT),
            Column("Heures prévues", Kind.HOURS),
            Column("Heures réalisées", Kind.HOURS),
            Column("Écart", Kind.HOURS),
        ),
        week_rows,
        total=Row(("Total", total[2], total[3], total[0], total[1], total[1] - total[0])),
    )
    return Report(
        f"Planning de {name} : prévu et réalisé",
        "Interventions prévues par le logiciel de planification, rapprochées des interventions "
        "réalisées "
        f"le même jour avec le même {other_label.lower()} ; durées réalisées en minutes retenues "
        f"(règle de la pré-facturation).",
        [weekly, detail],
    )


def beneficiary_planning(ctx: Context) -> Report:
    return _planning(ctx, "beneficiary")


def worker_planning(ctx: Context) -> Report:
    return _planning(ctx, "worker")


# --- 9. Hours per worker -----------------------------------------------------------------


def hours_by_worker(ctx: Context) -> Report:
    f = ctx.filters
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    served: dict[int, set[int]] = defaultdict(set)
    months, closed = kept.split_months(ctx)
    for _month, vb in billed(ctx, only=[m for m in months if m not in closed]):
        wid = vb.visit.worker_id
        totals[wid][0] += 1
        totals[wid][1] += kept_minutes(vb, f.funder_code)
        served[wid].add(vb.visit.beneficiary_id)
    kept_totals, kept_served = kept.worker_totals(ctx, closed)
    for wid, (count, minutes) in kept_totals.items():
        totals[wid][0] += count
        totals[wid][1] += minutes
    for wid, bid in kept_served:
        served[wid].add(bid)
    workers = people(ctx.session, Worker, totals)
    ants = antenna_names(ctx.session)
    rows = [
        Row(
            (
                w.name,
                w.external_id,
                ants.get(w.antenna_id, "?"),
                totals[wid][0],
                len(served[wid]),
                totals[wid][1],
                totals[wid][1],
            ),
            links={0: _person_link("worker", wid), 3: visits_link(ctx, worker_id=wid)},
            attrs={"data-worker": w.external_id},
        )
        for wid, w in sorted(workers.items(), key=lambda kv: (kv[1].name, kv[0]))
    ]
    minutes = sum(t[1] for t in totals.values())
    table = Table(
        "heures-intervenants",
        f"Heures réalisées par intervenant, {f.period.label} : {format_hours(minutes)} au total",
        (
            Column("Intervenant"),
            Column("Identifiant"),
            Column("Antenne"),
            Column("Interventions", Kind.INT),
            Column("Bénéficiaires servis", Kind.INT),
            Column("Minutes", Kind.MINUTES),
            Column("Heures", Kind.HOURS),
        ),
        rows,
        total=Row(
            (
                "Total",
                "",
                "",
                sum(t[0] for t in totals.values()),
                len({b for s in served.values() for b in s}),
                minutes,
                minutes,
            )
        ),
        empty="Aucune intervention sur la période.",
    )
    return Report(
        "Heures réalisées par intervenant",
        "Minutes retenues (règle d'arrondi du financeur), comme la pré-facturation par "
        "intervenant.",
        [table],
    )


# --- 10. Beneficiary profile -------------------------------------------------------------

AGE_BANDS = (
    (60, "Moins de 60 ans"),
    (75, "60 à 74 ans"),
    (85, "75 à 84 ans"),
    (95, "85 à 94 ans"),
    (200, "95 ans et plus"),
)
UNKNOWN = "Non renseigné"


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _band(birth: date | None, on: date) -> str:
    if birth is None:
        return UNKNOWN
    age = _age(birth, on)
    return next(label for limit, label in AGE_BANDS if age < limit)


def profile(ctx: Context) -> Report:
    f = ctx.filters
    query = select(Beneficiary.id, Beneficiary.sex, Beneficiary.birth_date, Beneficiary.gir).where(
        Beneficiary.care_start <= f.period.last,
        or_(Beneficiary.care_end.is_(None), Beneficiary.care_end >= f.period.first),
        in_antennas(Beneficiary.antenna_id, ctx.antennas),
    )
    if f.funder_code:
        query = query.where(
            select(CarePlan.id)
            .join(Funder, Funder.id == CarePlan.funder_id)
            .where(
                CarePlan.beneficiary_id == Beneficiary.id,
                Funder.code == f.funder_code,
                CarePlan.starts_on <= f.period.last,
                or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= f.period.first),
            )
            .exists()
        )
    bens = ctx.session.execute(query).all()
    count = len(bens)
    sexes = Counter(
        {"F": "Femmes", "M": "Hommes"}.get((s or "").upper(), UNKNOWN) for _i, s, _b, _g in bens
    )
    bands = Counter(_band(b, f.period.last) for _i, _s, b, _g in bens)
    girs = Counter(f"GIR {g}" if g else "GIR non évalué" for _i, _s, _b, g in bens)
    cross: dict[str, Counter[str]] = defaultdict(Counter)
    for _i, _s, birth, gir in bens:
        cross[_band(birth, f.period.last)][f"GIR {gir}" if gir else "GIR non évalué"] += 1
    band_order = [label for _l, label in AGE_BANDS] + [UNKNOWN]
    gir_order = [f"GIR {g}" for g in range(1, 7)] + ["GIR non évalué"]

    def counts_table(
        key: str, caption: str, label: str, counter: Counter[str], order: list[str]
    ) -> Table:
        return Table(
            key,
            caption,
            (Column(label), Column("Bénéficiaires", Kind.INT), Column("Part", Kind.PERCENT)),
            [
                Row((name, counter[name], _percent(counter[name], count)))
                for name in order
                if counter[name]
            ],
            total=Row(("Total", count, 100.0 if count else None)),
        )

    sex_table = counts_table(
        "profil-sexe", f"Par sexe, {f.period.label}", "Sexe", sexes, ["Femmes", "Hommes", UNKNOWN]
    )
    age_table = counts_table(
        "profil-age",
        "Par tranche d'âge (âge au dernier jour de la période)",
        "Tranche d'âge",
        bands,
        band_order,
    )
    gir_table = counts_table("profil-gir", "Par GIR", "GIR", girs, gir_order)
    used_girs = [g for g in gir_order if girs[g]]
    cross_table = Table(
        "profil-age-gir",
        "Par tranche d'âge et GIR",
        (
            Column("Tranche d'âge"),
            *(Column(g, Kind.INT) for g in used_girs),
            Column("Total", Kind.INT),
        ),
        [
            Row((band, *(cross[band][g] for g in used_girs), sum(cross[band].values())))
            for band in band_order
            if cross[band]
        ],
    )
    per_aid: dict[str, dict[Month, int]] = defaultdict(lambda: defaultdict(int))
    served: dict[str, set[int]] = defaultdict(set)
    months, closed = kept.split_months(ctx)
    for month, vb in billed(ctx, only=[m for m in months if m not in closed]):
        for share in shares(vb, f.funder_code):
            per_aid[aid_type(share)][month] += share.minutes
            served[aid_type(share)].add(vb.visit.beneficiary_id)
    kept_minutes_by_aid, kept_served = kept.aid_minutes(ctx, closed)
    by_period = {period_of(m): m for m in closed}
    for (period, kind), minutes in kept_minutes_by_aid.items():
        per_aid[loaders.aid_label(kind)][by_period[period]] += minutes
    for kind, bid in kept_served:
        served[loaders.aid_label(kind)].add(bid)
    aid_rows = []
    for aid in sorted(per_aid):
        total = sum(per_aid[aid].values())
        aid_rows.append(
            Row(
                (
                    aid,
                    *(per_aid[aid].get(m, 0) for m in months),
                    total,
                    len(served[aid]),
                    _mean(total, len(served[aid])),
                )
            )
        )
    consumption = Table(
        "profil-consommation",
        "Consommation : heures réalisées par type d'aide et par mois",
        (
            Column("Type d'aide"),
            *(Column(m.label, Kind.HOURS) for m in months),
            Column("Total de la période", Kind.HOURS),
            Column("Bénéficiaires servis", Kind.INT),
            Column("Moyenne par bénéficiaire", Kind.HOURS),
        ),
        aid_rows,
        total=Row(
            (
                "Total",
                *(sum(per_aid[a].get(m, 0) for a in per_aid) for m in months),
                sum(sum(v.values()) for v in per_aid.values()),
                len({b for s in served.values() for b in s}),
                None,
            )
        ),
    )
    chart = Chart(
        "graphique-profil",
        "Bénéficiaires par tranche d'âge et GIR",
        [band for band in band_order if cross[band]],
        [(g, [cross[band][g] for band in band_order if cross[band]]) for g in used_girs],
        kind=Kind.INT,
        stacked=True,
        category_label="Tranche d'âge",
    )
    return Report(
        "Profil des bénéficiaires",
        "Bénéficiaires pris en charge pendant la période (début de prise en charge avant sa fin, "
        "fin après son "
        "début) : sexe, âge, GIR ; et consommation en minutes retenues par type d'aide "
        "(financeur).",
        [sex_table, age_table, gir_table, cross_table, consumption],
        [chart],
    )


# --- 11 and 12. Activity summaries -------------------------------------------------------


@dataclass
class Activity:
    visits: int = 0
    minutes: int = 0
    beneficiaries: set[int] = field(default_factory=set)
    workers: set[int] = field(default_factory=set)
    pairs: set[tuple[int, int]] = field(default_factory=set)
    #: (minutes, order, visit id): the first of equals in the order of the months' allocations.
    longest: tuple[int, tuple[int, int], int] | None = None
    shortest: tuple[int, tuple[int, int], int] | None = None

    def add(
        self,
        minutes: int,
        visit_id: int,
        beneficiary_id: int,
        worker_id: int,
        order: tuple[int, int] = (0, 0),
    ) -> None:
        self.visits += 1
        self.minutes += minutes
        self.beneficiaries.add(beneficiary_id)
        self.workers.add(worker_id)
        self.pairs.add((beneficiary_id, worker_id))
        self._longest(minutes, order, visit_id)
        self._shortest(minutes, order, visit_id)

    def add_group(self, month_index: int, group: kept.Group) -> None:
        """A kept month's visits of one antenna (``kept.activity_groups``)."""
        self.visits += group.visits
        self.minutes += group.minutes
        self.pairs |= group.pairs
        self.beneficiaries.update(b for b, _w in group.pairs)
        self.workers.update(w for _b, w in group.pairs)
        if group.longest is not None and group.shortest is not None:
            self._longest(group.longest[0], (month_index, group.longest[1]), group.longest_id)
            self._shortest(group.shortest[0], (month_index, group.shortest[1]), group.shortest_id)

    def _longest(self, minutes: int, order: tuple[int, int], visit_id: int) -> None:
        """The longest visit; of equals, the first in order."""
        found = self.longest
        if found is None or minutes > found[0] or (minutes == found[0] and order < found[1]):
            self.longest = (minutes, order, visit_id)

    def _shortest(self, minutes: int, order: tuple[int, int], visit_id: int) -> None:
        found = self.shortest
        if found is None or minutes < found[0] or (minutes == found[0] and order < found[1]):
            self.shortest = (minutes, order, visit_id)

    def values(self, label: str) -> tuple[Value, ...]:
        return (
            label,
            len(self.beneficiaries),
            len(self.workers),
            self.visits,
            self.minutes,
            _mean(self.minutes, len(self.beneficiaries)),
            _mean(self.minutes, len(self.workers)),
            _mean(self.minutes, len(self.pairs)),
            self.longest[0] if self.longest else None,
            self.shortest[0] if self.shortest else None,
        )

    def links(self) -> dict[int, str]:
        found = {}
        if self.longest:
            found[8] = url_for("visits.detail", visit_id=self.longest[2])
        if self.shortest:
            found[9] = url_for("visits.detail", visit_id=self.shortest[2])
        return found


def _activity_visits(ctx: Context) -> Iterator[tuple[int, Month, kept.Group | None, Any]]:
    """The period's counted visits for the activity states, month by month in order:
    (month index, month, None, (order, minutes, visit)) for a month computed live, and
    (month index, month, group, antenna id) for each antenna of a month the ledger keeps."""
    f = ctx.filters
    months, closed = kept.split_months(ctx)
    groups = kept.activity_groups(ctx, closed)
    for index, month in enumerate(months):
        if month in closed:
            for antenna, group in kept.in_order(groups, month):
                yield index, month, group, antenna
            continue
        for position, (_m, vb) in enumerate(billed(ctx, only=(month,))):
            yield index, month, None, ((index, position), kept_minutes(vb, f.funder_code), vb.visit)


ACTIVITY_COLUMNS = (
    Column("Bénéficiaires actifs", Kind.INT),
    Column("Intervenants actifs", Kind.INT),
    Column("Interventions", Kind.INT),
    Column("Heures réalisées", Kind.HOURS),
    Column("Heures par bénéficiaire", Kind.HOURS),
    Column("Heures par intervenant", Kind.HOURS),
    Column("Heures par couple bénéficiaire × intervenant", Kind.HOURS),
    Column("Intervention la plus longue", Kind.HOURS),
    Column("Intervention la plus courte", Kind.HOURS),
)


def monthly_activity(ctx: Context) -> Report:
    f = ctx.filters
    per_antenna: dict[int, Activity] = defaultdict(Activity)
    whole = Activity()
    for index, _month, group, item in _activity_visits(ctx):
        if group is not None:
            per_antenna[item].add_group(index, group)
            whole.add_group(index, group)
            continue
        order, minutes, v = item
        per_antenna[v.antenna_id].add(minutes, v.visit_id, v.beneficiary_id, v.worker_id, order)
        whole.add(minutes, v.visit_id, v.beneficiary_id, v.worker_id, order)
    ants = antenna_names(ctx.session)
    rows = []
    for antenna_id, act in sorted(per_antenna.items(), key=lambda kv: ants.get(kv[0], "")):
        links = act.links()
        links[3] = visits_link(ctx, antenna_id=antenna_id)
        rows.append(Row(act.values(ants.get(antenna_id, "?")), links=links))
    table = Table(
        "activite",
        f"Activité par antenne, {f.period.label}",
        (Column("Antenne"), *ACTIVITY_COLUMNS),
        rows,
        total=Row(whole.values("Total"), links=whole.links()),
        empty="Aucune intervention sur la période.",
    )
    return Report(
        "Synthèse d'activité mensuelle",
        "Bénéficiaires et intervenants ayant au moins une intervention comptée ; heures en "
        "minutes retenues "
        "(règle de la pré-facturation) ; moyennes arrondies à la minute.",
        [table],
    )


def period_activity(ctx: Context) -> Report:
    f = ctx.filters
    per_month: dict[Month, Activity] = defaultdict(Activity)
    per_antenna_month: dict[int, dict[Month, int]] = defaultdict(lambda: defaultdict(int))
    whole = Activity()
    for index, month, group, item in _activity_visits(ctx):
        if group is not None:
            per_month[month].add_group(index, group)
            whole.add_group(index, group)
            per_antenna_month[item][month] += group.minutes
            continue
        order, minutes, v = item
        per_month[month].add(minutes, v.visit_id, v.beneficiary_id, v.worker_id, order)
        whole.add(minutes, v.visit_id, v.beneficiary_id, v.worker_id, order)
        per_antenna_month[v.antenna_id][month] += minutes
    months = f.period.months
    rows = []
    for month in months:
        act = per_month.get(month, Activity())
        links = act.links()
        links[3] = visits_link(ctx, period=Period.month(month))
        rows.append(Row(act.values(month.label), links=links))
    table = Table(
        "activite-periode",
        f"Activité par mois, {f.period.label}",
        (Column("Mois"), *ACTIVITY_COLUMNS),
        rows,
        total=Row(whole.values("Total de la période"), links=whole.links()),
    )
    ants = antenna_names(ctx.session)
    order = sorted(per_antenna_month, key=lambda a: ants.get(a, ""))
    by_antenna = Table(
        "heures-antennes-mois",
        "Heures réalisées par antenne et par mois",
        (
            Column("Antenne"),
            *(Column(m.label, Kind.HOURS) for m in months),
            Column("Total", Kind.HOURS),
        ),
        [
            Row(
                (
                    ants.get(a, "?"),
                    *(per_antenna_month[a].get(m, 0) for m in months),
                    sum(per_antenna_month[a].values()),
                )
            )
            for a in order
        ],
    )
    chart = Chart(
        "graphique-antennes",
        "Heures réalisées par mois et par antenne",
        [_month_label(m) for m in months],
        [(ants.get(a, "?"), [per_antenna_month[a].get(m, 0) for m in months]) for a in order]
        or [("Heures", [0] * len(months))],
        category_label="Mois",
    )
    return Report(
        "Synthèse d'activité semestrielle et annuelle",
        "Les chiffres de la synthèse mensuelle, mois par mois, et pour toute la période "
        "(bénéficiaires et "
        "intervenants distincts sur la période) ; heures en minutes retenues.",
        [table, by_antenna],
        [chart],
    )


# --- 13. Absences ------------------------------------------------------------------------

ABSENCE_LABELS = {
    AbsenceKind.HOLIDAY: "Vacances",
    AbsenceKind.HOSPITAL: "Hospitalisation",
    AbsenceKind.OTHER_TEMPORARY: "Autre absence temporaire",
    AbsenceKind.MOVED: "Déménagement",
    AbsenceKind.NURSING_HOME: "Entrée en établissement",
    AbsenceKind.DEATH: "Décès",
}
ABSENCE_NATURES = (("temporaire", "Temporaires"), ("definitive", "Définitives"))


def absences(ctx: Context) -> Report:
    f = ctx.filters
    query = (
        select(Absence, Beneficiary.antenna_id)
        .join(Beneficiary, Beneficiary.id == Absence.beneficiary_id)
        .where(
            Absence.starts_on <= f.period.last,
            or_(Absence.ends_on.is_(None), Absence.ends_on >= f.period.first),
            in_antennas(Beneficiary.antenna_id, ctx.antennas),
        )
        .order_by(Absence.starts_on, Absence.id)
    )
    if f.beneficiary_id is not None:
        query = query.where(Absence.beneficiary_id == f.beneficiary_id)
    nature = f.options.get("nature")
    found = [
        (a, ant)
        for a, ant in ctx.session.execute(query)
        if nature is None or a.kind.definitive == (nature == "definitive")
    ]
    bens = people(ctx.session, Beneficiary, (a.beneficiary_id for a, _ in found))
    ants = antenna_names(ctx.session)
    by_kind: dict[AbsenceKind, list[int]] = defaultdict(lambda: [0, 0])
    rows = []
    for absence, antenna_id in found:
        start = max(absence.starts_on, f.period.first)
        end = min(absence.ends_on or f.period.last, f.period.last)
        days = (end - start).days + 1
        by_kind[absence.kind][0] += 1
        by_kind[absence.kind][1] += days
        rows.append(
            Row(
                (
                    bens[absence.beneficiary_id].name,
                    ants.get(antenna_id, "?"),
                    ABSENCE_LABELS[absence.kind],
                    "Définitive" if absence.kind.definitive else "Temporaire",
                    absence.starts_on,
                    absence.ends_on,
                    days,
                ),
                links={0: _person_link("beneficiary", absence.beneficiary_id)},
            )
        )
    summary = Table(
        "absences-types",
        f"Absences par motif, {f.period.label}",
        (
            Column("Motif"),
            Column("Nature"),
            Column("Absences", Kind.INT),
            Column("Jours dans la période", Kind.INT),
        ),
        [
            Row((ABSENCE_LABELS[k], "Définitive" if k.definitive else "Temporaire", *by_kind[k]))
            for k in AbsenceKind
            if k in by_kind
        ],
        total=Row(("Total", "", len(found), sum(v[1] for v in by_kind.values()))),
        empty="Aucune absence enregistrée sur la période.",
    )
    detail = Table(
        "absences",
        "Détail des absences",
        (
            Column("Bénéficiaire"),
            Column("Antenne"),
            Column("Motif"),
            Column("Nature"),
            Column("Du", Kind.DATE),
            Column("Au", Kind.DATE),
            Column("Jours dans la période", Kind.INT),
        ),
        rows,
        empty="Aucune absence enregistrée sur la période.",
    )
    return Report(
        "Absences des bénéficiaires",
        "Absences temporaires (vacances, hospitalisation) et définitives (déménagement, entrée en "
        "établissement, décès) qui touchent la période, telles qu'importées du logiciel de "
        "planification.",
        [summary, detail],
    )


# --- The visits behind a figure ----------------------------------------------------------

#: Visits a PDF lists at most (about 25 pages; a year of an antenna is 540,000 visits,
#: 10,000 pages): the total covers them all, the CSV and the XLSX list them all.
PDF_VISITS = 1000

#: ``VisitStatus.label`` builds its table at each call: once here for a year's rows.
STATUS_LABELS = {status.value: status.label for status in VisitStatus}


def _visit_billing(
    ctx: Context, months: list[Month], until: date | None = None
) -> dict[int, tuple[int, list[tuple[str | None, int]]]]:
    """Visit id -> kept minutes and shares (funder code, None outside any plan; minutes),
    of the funder filtered, from the ledger's allocation of these months (not closed: the
    closed months' come with the visits, ``kept.visit_shares``). A visit not counted is
    absent; none after ``until`` when given (a page's last day)."""
    found: dict[int, tuple[int, list[tuple[str | None, int]]]] = {}
    live = [m for m in months if until is None or m.first_day <= until]
    if live:
        for _m, vb in billed(ctx, only=live):
            found[vb.visit.visit_id] = (
                kept_minutes(vb, ctx.filters.funder_code),
                [
                    (None if s.plan is None else s.plan.funder_code, s.minutes)
                    for s in shares(vb, ctx.filters.funder_code)
                ],
            )
    return found


def _visits_in_all(ctx: Context, where: list[ColumnElement[bool]]) -> tuple[int, int]:
    """How many visits a page's filters give, and their kept minutes: the kept months'
    summed by the database, the others' from the ledger's allocation (no funder filter)."""
    count = ctx.session.scalar(select(func.count()).select_from(Visit).where(*where)) or 0
    months, kept_set = kept.split_months(ctx)
    total = kept.kept_total(ctx, kept_set) + sum(
        vb.kept.minutes for _m, vb in billed(ctx, only=[m for m in months if m not in kept_set])
    )
    return count, total


def visits(ctx: Context) -> Report:
    with without_cyclic_gc():
        return _visits(ctx)


def _visits(ctx: Context) -> Report:
    f = ctx.filters
    where = [
        Visit.service_date >= f.period.first,
        Visit.service_date <= f.period.last,
        Visit.status != VisitStatus.DELETED,
        in_antennas(Visit.antenna_id, ctx.antennas),
    ]
    if f.worker_id is not None:
        where.append(Visit.worker_id == f.worker_id)
    if f.beneficiary_id is not None:
        where.append(Visit.beneficiary_id == f.beneficiary_id)
    order = (Visit.service_date, Visit.started_at, Visit.id)
    # A page (without a funder filter: which visits have a share of a funder is known
    # only after the allocation) reads its first rows only, and counts the others below.
    page = ctx.listed is not None and not f.funder_code
    months, kept_set = kept.split_months(ctx)
    # A closed month's kept minutes and shares come with its visits, in the same read: a
    # page's up to its last day (the day of its last visit, read first by the visits'
    # index: a year's page joined every closed month's rows, 0.8 -> 2.7 s).
    last_day = None
    if page and ctx.listed:
        nth = select(Visit.service_date).where(and_(*where)).order_by(*order)
        last_day = ctx.session.scalar(nth.offset(ctx.listed - 1).limit(1)) or f.period.last
    shared, more_shares = kept.visit_shares(
        ctx,
        [m for m in months if m in kept_set and (last_day is None or m.first_day <= last_day)],
        last_day,
    )
    listed_q = select(
        Visit.id,
        Visit.service_date,
        Visit.started_at,
        # As text (``_clock_of_text``): the driver's aware datetimes took 2 s of a year.
        cast(Visit.started_at, String).label("arrival"),
        cast(Visit.ended_at, String).label("departure"),
        Visit.worker_id,
        Visit.beneficiary_id,
        Visit.antenna_id,
        # The stored text, not the enum: SQLAlchemy's Enum processing was 0.5 s a year.
        type_coerce(Visit.status, String).label("status"),
    ).where(and_(*where))
    if page:
        # The page's rows chosen before the join: a LIMIT over the join made PostgreSQL
        # compare each row with each kept row of the days (a nested loop, 1.4 s).
        listed_q = listed_q.order_by(*order).limit(ctx.listed)
    v = listed_q.subquery("listed")
    rows_q = select(
        v.c.id,
        v.c.service_date,
        v.c.arrival,
        v.c.departure,
        v.c.worker_id,
        v.c.beneficiary_id,
        v.c.antenna_id,
        v.c.status,
        *(
            (shared.c.kept, shared.c.shares)
            if shared is not None
            else (type_coerce(null(), Integer), type_coerce(null(), String))
        ),
    ).select_from(v)
    if shared is not None:
        rows_q = rows_q.outerjoin(shared, shared.c.visit_id == v.c.id)
    rows_q = rows_q.order_by(v.c.service_date, v.c.started_at, v.c.id)
    # Through the connection (Core): the ORM's row handling took a third of a year's export.
    # By batches (yield_per, on the statement: Connection.execution_options changes the
    # session's connection itself, and its next INSERT went through a server-side cursor,
    # a 500 on PostgreSQL): one fetchone a row cost a third more.
    found: list[Any] = list(
        ctx.session.connection().execute(rows_q.execution_options(yield_per=kept.YIELD_ROWS)).all()
    )
    names = funders(ctx.session)
    # The months not closed from the ledger's allocation: a page's up to its last row's
    # day (none for an empty page); a file's, all.
    live = [m for m in months if m not in kept_set]
    billing = _visit_billing(ctx, live, found[-1][1] if page else None) if found or not page else {}
    if more_shares:
        # A visit's other shares (a few), after its first one's.
        found = [
            r if r[0] not in more_shares else (*r[:9], r[9] + more_shares[r[0]]) for r in found
        ]
    if f.funder_code:
        # The funder's shares of each visit, their minutes its kept ones; a closed month's
        # visit without any left out, as a visit of the others without any is absent from
        # the allocation's ``billing``.
        funder_of: dict[str, tuple[int, str] | None] = {}
        kept_found = []
        for r in found:
            if r[9] is None:
                if r[0] in billing:
                    kept_found.append(r)
                continue
            part = funder_of.get(r[9], ())
            if part == ():
                part = funder_of[r[9]] = kept.of_funder(r[9], f.funder_code)
            if part is not None:
                kept_found.append((*r[:8], *part))
        found = kept_found
    workers = people(ctx.session, Worker, (r[4] for r in found))
    bens = people(ctx.session, Beneficiary, (r[5] for r in found))
    ants = antenna_names(ctx.session)

    def split_text(parts: list[tuple[str | None, int]]) -> str:
        return " | ".join(f"{code_label(names, code)} : {format_hours(m)}" for code, m in parts)

    class KeptSplits(dict[str | None, str]):
        """The text of each split met, by the kept shares' text (a few hundred for a
        year: the same shares recur); a visit without kept figures is not counted."""

        def __missing__(self, key: str | None) -> str:
            text = self[key] = "Non comptée" if key is None else split_text(kept.split_shares(key))
            return text

    # A column at a time (map: a year of an antenna is 552,000 rows, built a row at a time
    # in Python they were half of the report's time).
    ids, days, starts, ends, wids, bids, antenna_ids, statuses, minutes, keys = (
        zip(*found, strict=True) if found else [()] * 10
    )
    splits: list[str] = list(map(KeptSplits().__getitem__, keys))
    minutes_of: list[int | None] = list(minutes)
    if billing:
        # The months not closed: their visits' minutes and splits from the allocation.
        live_splits: dict[tuple[tuple[str | None, int], ...], str] = {}
        for i, vid in enumerate(ids):
            if minutes_of[i] is None and (counted := billing.get(vid)) is not None:
                minutes_of[i], parts_list = counted
                parts = tuple(parts_list)
                split = live_splits.get(parts)
                if split is None:
                    split = live_splits[parts] = split_text(parts_list)
                splits[i] = split
    total = sum(filter(None, minutes_of))
    antenna_of = {a: ants.get(a, "?") for a in set(antenna_ids)}
    worker_names = {wid: person.name for wid, person in workers.items()}
    ben_names = {bid: person.name for bid, person in bens.items()}
    rows = list(
        map(
            Row,
            zip(
                ids,
                days,
                map(_clock_of_text, starts),
                map(_clock_of_text, ends),
                map(worker_names.__getitem__, wids),
                map(ben_names.__getitem__, bids),
                map(antenna_of.__getitem__, antenna_ids),
                map(STATUS_LABELS.__getitem__, statuses),
                minutes_of,
                splits,
                strict=True,
            ),
        )
    )
    # Links only where someone can follow them: the rows a page shows, none in a file
    # (a year of an antenna is 540,000 rows: three url_for each took longer than the rest).
    linked = ctx.listed or 0
    for i, row in enumerate(rows[:linked]):
        vid, wid, bid = ids[i], wids[i], bids[i]
        rows[i] = Row(
            row.values,
            {
                0: url_for("visits.detail", visit_id=vid),
                4: _person_link("worker", wid),
                5: _person_link("beneficiary", bid),
            },
            {"data-visit": str(vid)},
        )
    count = len(rows)
    if page and len(rows) == ctx.listed:
        count, total = _visits_in_all(ctx, where)
    table = Table(
        "interventions",
        f"Interventions, {f.period.label} : {count} ({format_hours(total)} retenues)",
        (
            Column("Intervention", Kind.INT),
            Column("Jour", Kind.DATE),
            Column("Arrivée"),
            Column("Départ"),
            Column("Intervenant"),
            Column("Bénéficiaire"),
            Column("Antenne"),
            Column("Statut"),
            Column("Minutes retenues", Kind.MINUTES),
            Column("Répartition entre financeurs"),
        ),
        rows,
        total=Row(("Total", None, "", "", "", "", "", "", total, "")),
        empty="Aucune intervention pour ces filtres.",
        # The rows with their links (a page's); a file ignores it.
        page_limit=max(linked, 1),
        count=count,
        pdf_limit=PDF_VISITS,
    )
    return Report(
        "Interventions derrière les chiffres",
        "Chaque intervention de la période avec ses minutes retenues et leur répartition entre "
        "financeurs "
        "(règle de la pré-facturation) ; une intervention incomplète n'est pas comptée.",
        [table],
    )


PERSONS = ("antenne", "financeur", "intervenant", "beneficiaire")

STATES: dict[str, State] = {
    s.slug: s
    for s in (
        State(
            1,
            "beneficiaires",
            "Heures par bénéficiaire",
            "Heures réalisées chaque mois par bénéficiaire et financeur (à joindre aux factures).",
            hours_by_beneficiary,
            ("antenne", "financeur", "beneficiaire"),
        ),
        State(
            2,
            "plans-d-aide",
            "Suivi des plans d'aide",
            "Autorisé et consommé par plan et financeur, mois par mois et sur l'année.",
            plan_follow_up,
            ("antenne", "financeur", "beneficiaire"),
        ),
        State(
            3,
            "appels-incomplets",
            "Appels incomplets",
            "Par type, antenne, intervenant et période ; corrigés ou non.",
            incomplete_calls,
            ("antenne", "intervenant", "beneficiaire"),
            options={"type": INCOMPLETE_KINDS, "etat": CORRECTED_CHOICES},
        ),
        State(
            4,
            "financeurs",
            "Bénéficiaires par financeur",
            "Bénéficiaires, plans et heures par financeur.",
            beneficiaries_by_funder,
            ("antenne", "financeur"),
        ),
        State(
            5,
            "non-identifies",
            "Bénéficiaires non identifiés",
            "Appels de numéros inconnus ou masqués, par numéro, et ce qu'ils sont devenus.",
            unidentified,
            ("antenne",),
        ),
        State(
            6,
            "taux-de-correction",
            "Taux de correction",
            "Appels incomplets corrigés, et en combien de temps, par antenne et responsable.",
            correction_rate,
            ("antenne",),
        ),
        State(
            7,
            "planning-beneficiaire",
            "Planning d'un bénéficiaire",
            "Prévu et réalisé, par semaine ou par mois.",
            beneficiary_planning,
            ("antenne", "beneficiaire"),
            periods=(PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.DATES),
        ),
        State(
            8,
            "planning-intervenant",
            "Planning d'un intervenant",
            "Prévu et réalisé, par semaine ou par mois.",
            worker_planning,
            ("antenne", "intervenant"),
            periods=(PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.DATES),
        ),
        State(
            9,
            "intervenants",
            "Heures par intervenant",
            "Heures réalisées par intervenant.",
            hours_by_worker,
            ("antenne", "financeur", "intervenant"),
        ),
        State(
            10,
            "profil",
            "Profil des bénéficiaires",
            "Sexe, âge, GIR et consommation par type d'aide.",
            profile,
            ("antenne", "financeur"),
        ),
        State(
            11,
            "activite-mensuelle",
            "Synthèse mensuelle",
            "Bénéficiaires et intervenants actifs, heures, moyennes, interventions extrêmes.",
            monthly_activity,
            ("antenne", "financeur"),
        ),
        State(
            12,
            "activite-annuelle",
            "Synthèse semestrielle et annuelle",
            "Les mêmes chiffres mois par mois, sur un semestre ou une année.",
            period_activity,
            ("antenne", "financeur"),
            periods=(PeriodKind.HALF_YEAR, PeriodKind.YEAR),
            default=PeriodKind.YEAR,
        ),
        State(
            13,
            "absences",
            "Absences",
            "Absences temporaires et définitives des bénéficiaires.",
            absences,
            ("antenne", "beneficiaire"),
            options={"nature": ABSENCE_NATURES},
        ),
        State(
            0,
            "interventions",
            "Interventions",
            "Les interventions derrière un chiffre.",
            visits,
            PERSONS,
            pdf_listed=True,
        ),
    )
}
