"""Load the plain facts that the rules of money (``ledger.money``) work on.

The one reader of visits and care plans for every figure of money: the
pre-billing and teletransmission, the service-done file, the statements, the
statistics, the visits CSV and the people pages all call ``load_month_facts``
and ``ledger.money.allocate_month``, so they cannot read the ledger two ways.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, String, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased

from ledger.collector import without_cyclic_gc
from ledger.models import (
    Antenna,
    Beneficiary,
    CallEvent,
    CarePlan,
    Funder,
    Visit,
    VisitStatus,
    VisitVersion,
)
from ledger.money import (
    Line,
    MonthBilling,
    PlanFact,
    Rounding,
    VisitBilling,
    VisitFact,
    allocate_month,
    line_order,
)
from ledger.motives import esppadom_code
from ledger.timeutil import Month, as_utc


@dataclass(frozen=True)
class MonthFacts:
    month: Month
    visits: list[VisitFact]
    plans: list[PlanFact]


def _visit_filter(
    month: Month,
    antenna_ids: Collection[int] | None,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> list[ColumnElement[bool]]:
    where = [
        Visit.service_date >= month.first_day,
        Visit.service_date <= month.last_day,
        Visit.status != VisitStatus.DELETED,
    ]
    if antenna_ids is not None:
        where.append(Visit.antenna_id.in_(sorted(antenna_ids)))
    if beneficiary_id is not None:
        where.append(Visit.beneficiary_id == beneficiary_id)
    if worker_id is not None:
        where.append(Visit.worker_id == worker_id)
    return where


def load_month_facts(
    session: Session,
    month: Month,
    antenna_ids: Collection[int] | None = None,
    *,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> MonthFacts:
    """The month's visits (not deleted) and the plans in force during it.

    ``antenna_ids`` restricts to those antennas (a manager's scope); a
    beneficiary's visits all belong to their antenna, so the allocation of a
    beneficiary's month is the same whatever the scope. ``beneficiary_id``
    keeps one beneficiary's month (their allocation is whole); ``worker_id``
    one worker's visits, whose kept minutes are right (a visit's rounding does
    not depend on the others) but whose split between plans is only the
    beneficiary's month's to tell.

    A month (all antennas, or some) is read once per state (``_marker``) and
    process: a page, a validation and every output asked while nothing changed
    share one reading. One beneficiary's or one worker's month is read each
    time (it is quick, and would push whole months out of the cache).
    """
    scope = _Scope(month, _antennas(antenna_ids), beneficiary_id, worker_id)
    entry = _cached(session, scope)
    return MonthFacts(month, list(entry.visits), list(entry.plans))


def _antennas(antenna_ids: Collection[int] | None) -> tuple[int, ...] | None:
    return None if antenna_ids is None else tuple(sorted(set(antenna_ids)))


@dataclass(frozen=True)
class _Scope:
    month: Month
    antenna_ids: tuple[int, ...] | None
    beneficiary_id: int | None
    worker_id: int | None

    def visit_filter(self) -> ColumnElement[bool]:
        return and_(
            *_visit_filter(self.month, self.antenna_ids, self.beneficiary_id, self.worker_id)
        )


def _seconds(session: Session, column: Any) -> ColumnElement[Any]:
    """A date or time as seconds since 1970 in SQL (0 when missing), on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.coalesce(func.extract("epoch", column), 0)
    return func.coalesce(func.strftime("%s", column), 0)


def _marker(session: Session, scope: _Scope) -> tuple[str, ...]:
    """What changes whenever the scope's figures may change: one SQL pass per table.

    Every change of a visit is a new version (``ledger.service``): its
    ``version`` grows, and a visit entering or leaving the month (or deleted)
    changes the count and the sums of ids. The sums of the times, people and
    calls make a month rebuilt with the same ids (a restored or truncated
    database), or a visit rewritten outside the ledger, another marker as
    well. The plans in force are summed the same way (an import changes them
    in place), and the few funders are read whole.
    """
    visits = session.execute(select(*_visit_sums(session)).where(scope.visit_filter())).one()
    plans = session.execute(_plans_query(scope, *_plan_sums(session))).one()
    return _joined(visits, plans, _funder_rows(session))


def _markers(session: Session, scopes: Sequence[_Scope]) -> dict[_Scope, tuple[str, ...]]:
    """``_marker`` of each of one month's single-antenna scopes, in one pass per table
    grouped by antenna rather than one per antenna: a referent's month of all antennas
    is its antennas' cached months (``_composed``), and their markers were three
    statements each at every request (eighteen for six antennas, about a third of a
    referent's day's CSV). An antenna the grouped passes do not see (no visit or no
    plan in the month) gets its own ``_marker``: its sums of nothing are NULLs, which
    a group that does not exist cannot give."""
    month = scopes[0].month
    ids = sorted(a for s in scopes for a in s.antenna_ids or ())
    whole = _Scope(month, tuple(ids), None, None)
    visits = {
        antenna: sums
        for antenna, *sums in session.execute(
            select(Visit.antenna_id, *_visit_sums(session))
            .where(whole.visit_filter())
            .group_by(Visit.antenna_id)
        )
    }
    plans = {
        antenna: sums
        for antenna, *sums in session.execute(
            _plans_query(whole, Beneficiary.antenna_id, *_plan_sums(session)).group_by(
                Beneficiary.antenna_id
            )
        )
    }
    funders = _funder_rows(session)
    found: dict[_Scope, tuple[str, ...]] = {}
    for scope in scopes:
        (antenna,) = scope.antenna_ids or (None,)
        if antenna in visits and antenna in plans:
            found[scope] = _joined(visits[antenna], plans[antenna], funders)
        else:
            found[scope] = _marker(session, scope)
    return found


def _visit_sums(session: Session) -> list[ColumnElement[Any]]:
    return [
        func.count(),
        func.sum(Visit.id),
        func.sum(Visit.version),
        func.sum(Visit.version * (Visit.id % 9973)),
        func.sum(Visit.beneficiary_id + Visit.worker_id * 7 + Visit.antenna_id * 13),
        func.sum(_seconds(session, Visit.started_at)),
        func.sum(_seconds(session, Visit.ended_at)),
        func.sum(func.coalesce(Visit.arrival_event_id, 0)),
        func.sum(func.coalesce(Visit.departure_event_id, 0)),
        func.count(Visit.service_code),
    ]


def _plan_sums(session: Session) -> list[ColumnElement[Any]]:
    return [
        func.count(),
        func.sum(CarePlan.id),
        func.sum(CarePlan.beneficiary_id + CarePlan.funder_id * (CarePlan.id % 9973)),
        func.sum(CarePlan.max_hours * 100),
        func.sum(_seconds(session, CarePlan.starts_on)),
        func.sum(_seconds(session, CarePlan.ends_on)),
        func.count(CarePlan.ends_on),
        func.sum(func.length(CarePlan.service_code) + func.length(CarePlan.reference) * 31),
    ]


def _funder_rows(session: Session) -> list[Any]:
    return list(session.execute(select(Funder.id, Funder.code, Funder.kind).order_by(Funder.id)))


def _joined(visits: Iterable[Any], plans: Iterable[Any], funders: list[Any]) -> tuple[str, ...]:
    return (*(str(value) for value in (*visits, *plans)), _FUNDERS, *(str(f) for f in funders))


#: In a marker, what comes after it is the funders' (a change of them is read whole again).
_FUNDERS = "funders"


def _funders(marker: tuple[str, ...]) -> tuple[str, ...]:
    return marker[marker.index(_FUNDERS) :] if _FUNDERS in marker else marker


def _fingerprints(session: Session, scope: _Scope) -> dict[int, tuple[str, ...]]:
    """Per beneficiary of the scope's month, the marker's sums of their visits and of their
    plans in force: a changed marker tells which beneficiaries changed (the sums of the
    whole month are the sums of these, so a change the marker sees changes one of them)."""
    visits = session.execute(
        select(
            Visit.beneficiary_id,
            func.count(),
            func.sum(Visit.id),
            func.sum(Visit.version),
            func.sum(Visit.version * (Visit.id % 9973)),
            func.sum(Visit.worker_id * 7 + Visit.antenna_id * 13),
            func.sum(_seconds(session, Visit.started_at)),
            func.sum(_seconds(session, Visit.ended_at)),
            func.sum(func.coalesce(Visit.arrival_event_id, 0)),
            func.sum(func.coalesce(Visit.departure_event_id, 0)),
            func.count(Visit.service_code),
        )
        .where(scope.visit_filter())
        .group_by(Visit.beneficiary_id)
    )
    found: dict[int, tuple[str, ...]] = {
        ben: tuple(str(value) for value in sums) for ben, *sums in visits
    }
    plans = session.execute(
        _plans_query(
            scope,
            CarePlan.beneficiary_id,
            func.count(),
            func.sum(CarePlan.id),
            func.sum(CarePlan.funder_id * (CarePlan.id % 9973)),
            func.sum(CarePlan.max_hours * 100),
            func.sum(_seconds(session, CarePlan.starts_on)),
            func.sum(_seconds(session, CarePlan.ends_on)),
            func.count(CarePlan.ends_on),
            func.sum(func.length(CarePlan.service_code) + func.length(CarePlan.reference) * 31),
        ).group_by(CarePlan.beneficiary_id)
    )
    for ben, *sums in plans:
        found[ben] = (*found.get(ben, ()), "plans", *(str(value) for value in sums))
    return found


@dataclass
class _Entry:
    marker: tuple[str, ...]
    visits: tuple[VisitFact, ...]
    plans: tuple[PlanFact, ...]
    #: The allocation made from these facts, by rules.
    billings: dict[tuple[tuple[str, Rounding], ...], MonthBilling]
    #: ``_fingerprints`` of the facts (None for a month too large to follow this way).
    prints: dict[int, tuple[str, ...]] | None = None
    #: The beneficiaries of these visits and plans (``_beneficiaries``, made on first use).
    beneficiaries: frozenset[int] | None = None


def _beneficiaries(entry: _Entry) -> frozenset[int]:
    if entry.beneficiaries is None:
        entry.beneficiaries = frozenset(
            chain((v.beneficiary_id for v in entry.visits), (p.beneficiary_id for p in entry.plans))
        )
    return entry.beneficiaries


#: Per engine, the last readings of months: at most ``_CACHE_SIZE`` of them and
#: ``_CACHE_VISITS`` visits in all, the last one always (a month of two million
#: visits holds about a gigabyte and a half with its allocation). The statistics
#: of a manager's month and the pages of a month in review are read from here;
#: a closed month's figures are kept in the database (``ledger.figures``).
_CACHE: weakref.WeakKeyDictionary[Engine, OrderedDict[_Scope, _Entry]] = weakref.WeakKeyDictionary()
_CACHE_SIZE = 16
_CACHE_VISITS = 300_000
#: A month of at most so many visits is followed beneficiary by beneficiary
#: (``_fingerprints``: one grouped pass more when it is read whole, ~20 ms for an
#: antenna's 20,000 visits); a change of a few of its beneficiaries then reads and
#: allocates only theirs again. Larger months (all antennas) are read whole.
_INCREMENTAL_VISITS = 100_000
#: ... unless more than this share of its beneficiaries changed (an import).
_INCREMENTAL_SHARE = 0.25
_LOCK = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _cached(session: Session, scope: _Scope, marker: tuple[str, ...] | None = None) -> _Entry:
    """The scope's month from the cache, or read; ``marker``: its ``_marker``, when the
    caller read it already (``_markers``)."""
    if scope.beneficiary_id is not None or scope.worker_id is not None:
        # One person's month is quick to read, and must not push a month out of the cache.
        return _Entry(
            (), tuple(_load_visits(session, scope)), tuple(_load_plans(session, scope)), {}
        )
    if marker is None:
        marker = _marker(session, scope)
    engine = _engine(session)
    with _LOCK:
        entries = _CACHE.setdefault(engine, OrderedDict())
        entry = entries.get(scope)
        if entry is not None and entry.marker == marker:
            entries.move_to_end(scope)
            return entry
    # Read outside the lock; two requests may both read, the later one is kept. The
    # collector is kept off while the rows come (tens of thousands of tuples, none in a
    # cycle): its passes over every object alive were a fifth of a month's reading.
    with without_cyclic_gc():
        new = None
        if (
            entry is not None
            and entry.prints is not None
            and _funders(entry.marker) == _funders(marker)
        ):
            new = _changed_entry(session, scope, entry, marker)
        if new is None:
            # The fingerprints before the facts, as the marker: a change committed
            # between them is then seen again by the next request, never missed.
            small = int(marker[0]) <= _INCREMENTAL_VISITS  # the marker's count of visits
            prints = _fingerprints(session, scope) if small else None
            visits = tuple(_load_visits(session, scope))
            new = _Entry(marker, visits, tuple(_load_plans(session, scope)), {}, prints)
        entry = new
    with _LOCK:
        entries[scope] = entry
        entries.move_to_end(scope)
        evicted = False
        while len(entries) > 1 and (
            len(entries) > _CACHE_SIZE
            or sum(len(e.visits) for e in entries.values()) > _CACHE_VISITS
        ):
            entries.popitem(last=False)
            evicted = True
        if evicted:
            _forget_composed(engine, entries)
    return entry


def _forget_composed(engine: Engine, entries: OrderedDict[_Scope, _Entry]) -> None:
    """Drop the months put together from a month no longer cached: they would keep its
    visits alive beyond the cache's bound (called under ``_LOCK``)."""
    composed = _COMPOSED.get(engine)
    if composed is None:
        return
    cached = {id(entry) for entry in entries.values()}
    for key in [
        k for k, (parts, _made) in composed.items() if not {id(p) for p in parts} <= cached
    ]:
        del composed[key]


def _changed_entry(
    session: Session, scope: _Scope, old: _Entry, marker: tuple[str, ...]
) -> _Entry | None:
    """The month of ``old`` with only its changed beneficiaries read and allocated again, or
    None when too many changed (then the month is read whole).

    A beneficiary's allocation is theirs alone (``allocate_month`` fills each plan with
    its beneficiary's visits; plans, funders and rounding are per beneficiary and
    visit), so the month's figures are the unchanged beneficiaries' kept as they were
    and the changed ones' allocated again: ``_merged`` puts them in the order a whole
    allocation gives (``tests/ledger/test_facts_reading.py`` holds both to each other).
    The fingerprints are read before the facts, as in ``_cached``.
    """
    assert old.prints is not None
    prints = _fingerprints(session, scope)
    changed = {
        ben for ben in prints.keys() | old.prints.keys() if prints.get(ben) != old.prints.get(ben)
    }
    if len(changed) > len(prints) * _INCREMENTAL_SHARE:
        return None
    month = scope.month
    fresh_visits = _load_visits(session, scope, changed) if changed else []
    fresh_plans = _load_plans(session, scope, only=changed) if changed else []
    visits = [v for v in old.visits if v.beneficiary_id not in changed] + fresh_visits
    visits.sort(key=_visit_id)
    plans = [p for p in old.plans if p.beneficiary_id not in changed] + fresh_plans
    plans.sort(key=_plan_id)
    with _LOCK:  # another request may add a rule's figures to ``old`` meanwhile
        kept = list(old.billings.items())
    billings = {
        key: _merged(
            billing,
            allocate_month(month.year, month.month, fresh_visits, fresh_plans, dict(key)),
            changed,
        )
        for key, billing in kept
    }
    return _Entry(marker, tuple(visits), tuple(plans), billings, prints)


def _visit_id(visit: VisitFact) -> int:
    return visit.visit_id


def _plan_id(plan: PlanFact) -> int:
    return plan.plan_id


def _chronological(billing: VisitBilling) -> tuple[int, datetime, int]:
    # ``allocate_month``'s order: by beneficiary, then (UTC) start, then id.
    return billing.visit.beneficiary_id, billing.recorded.start, billing.visit.visit_id


def _merged(old: MonthBilling, fresh: MonthBilling, changed: set[int]) -> MonthBilling:
    """``old`` with the changed beneficiaries' figures replaced by ``fresh``'s, in the order
    ``allocate_month`` gives for the whole month: visits by beneficiary, start and id;
    unbillable visits by id (the month's facts are in that order); lines by
    ``line_order``, a line's ties (one beneficiary's) in the order of its first visit,
    which a stable sort keeps since each beneficiary's lines come from one allocation."""
    return _in_whole_order(
        old.year,
        old.month,
        chain((b for b in old.visits if b.visit.beneficiary_id not in changed), fresh.visits),
        chain((v for v in old.unbillable if v.beneficiary_id not in changed), fresh.unbillable),
        chain((ln for ln in old.lines if ln.key.beneficiary_id not in changed), fresh.lines),
    )


def _in_whole_order(
    year: int,
    month: int,
    visits: Iterable[VisitBilling],
    unbillable: Iterable[VisitFact],
    lines: Iterable[Line],
) -> MonthBilling:
    """Beneficiaries' figures from separate allocations, in the order ``allocate_month``
    gives a whole month (``_merged``'s docstring); each one's lines in its own
    allocation's order, which the stable sort keeps."""
    return MonthBilling(
        year,
        month,
        tuple(sorted(visits, key=_chronological)),
        tuple(sorted(unbillable, key=_visit_id)),
        tuple(sorted(lines, key=line_order)),
    )


def warm_months(
    session: Session,
    scopes: Sequence[tuple[Month, Collection[int] | None]],
    rules: dict[str, Rounding] | None = None,
    *,
    until: float,
    clock: Callable[[], float] = time.monotonic,
) -> list[tuple[Month, tuple[int, ...] | None]]:
    """Read and allocate these months (a month and its antennas, None: all) into the
    cache, in the order given, so that a new process's first requests find them ready.

    A month's cold reading and allocation is most of a new process's first request
    on it (0.64 s of CPU for one antenna's 20,000 visits). Stops once ``clock()``
    reaches ``until``, and before the months warmed would hold more than three
    quarters of the cache's visits (the rest is for the months requests ask: a warmed
    month pushed out by the next one would be work lost). Returns the scopes warmed.
    """
    warmed: list[tuple[Month, tuple[int, ...] | None]] = []
    room = _CACHE_VISITS * 3 // 4
    for month, antenna_ids in scopes:
        if clock() >= until or len(warmed) >= _CACHE_SIZE * 3 // 4:
            break
        scope = _Scope(month, _antennas(antenna_ids), None, None)
        count = int(_marker(session, scope)[0])
        if count > room:
            continue  # a smaller month further on may still fit
        room -= count
        month_billing(session, month, rules, scope.antenna_ids)
        warmed.append((month, scope.antenna_ids))
    return warmed


def forget_cached_months() -> None:
    """Drop every cached reading (tests of the cache; memory after a bench)."""
    with _LOCK:
        _CACHE.clear()
        _COMPOSED.clear()


#: ``esppadom_code`` of each combination of its flags (a visit's code is one of a few).
_CODES: dict[tuple[bool, bool, bool, bool, bool, bool], str] = {}


def _code(
    had_in: bool, had_out: bool, changed: bool, corrected: bool, in_changed: bool, out_changed: bool
) -> str:
    flags = (had_in, had_out, changed, corrected, in_changed, out_changed)
    found = _CODES.get(flags)
    if found is None:
        code = esppadom_code(
            had_arrival_call=had_in,
            had_departure_call=had_out,
            times_changed=changed,
            deleted=False,
            corrected=corrected,
            arrival_changed=in_changed,
            departure_changed=out_changed,
        )
        found = _CODES[flags] = code.value if code is not None else ""
    return found


def _load_visits(
    session: Session, scope: _Scope, only: Collection[int] | None = None
) -> list[VisitFact]:
    """The scope's visits (of the beneficiaries ``only`` when given)."""
    arrival = aliased(CallEvent)
    departure = aliased(CallEvent)
    in_month = scope.visit_filter()
    if only is not None:
        in_month = and_(in_month, Visit.beneficiary_id.in_(sorted(only)))
    # Through the session first: it flushes pending changes (a correction not yet
    # committed is read), then the month is read on its connection.
    corrected_ids = set(
        session.scalars(
            select(VisitVersion.visit_id)
            .join(Visit, Visit.id == VisitVersion.visit_id)
            .where(in_month, VisitVersion.motive.is_not(None))
            .distinct()
        )
    )
    # Core rows on the session's connection (its transaction): the ORM's row
    # loading and the status's Enum conversion were a tenth of a month's reading,
    # and the status is only compared as its value.
    rows = (
        session.connection()
        .execute(
            select(
                Visit.id,
                Visit.beneficiary_id,
                Visit.worker_id,
                Visit.service_date,
                Visit.started_at,
                Visit.ended_at,
                Visit.service_code,
                type_coerce(Visit.status, String),
                Visit.antenna_id,
                arrival.answered_at,
                departure.answered_at,
            )
            .outerjoin(arrival, arrival.id == Visit.arrival_event_id)
            .outerjoin(departure, departure.id == Visit.departure_event_id)
            .where(in_month)
            .order_by(Visit.id)
        )
        .all()
    )
    with without_cyclic_gc():
        return _visit_facts(rows, corrected_ids)


#: Statuses of visits entered or corrected by hand (``esppadom_code``'s "corrected").
_BY_HAND = frozenset({VisitStatus.CORRECTED.value, VisitStatus.MANUAL.value})


def _visit_facts(rows: Sequence[Any], corrected_ids: set[int]) -> list[VisitFact]:
    """One ``VisitFact`` per row (the month's visits: tens of thousands, so the loop is lean:
    times already UTC are kept as they are, the fact is built positionally)."""
    visits: list[VisitFact] = []
    append = visits.append
    fact = VisitFact
    utc = UTC
    for vid, ben, wid, day, start, end, service, status, antenna, clock_in, clock_out in rows:
        # PostgreSQL sessions give UTC already (decision 0002); SQLite gives naive UTC.
        if start is not None and start.tzinfo is not utc:
            start = as_utc(start)
        if end is not None and end.tzinfo is not utc:
            end = as_utc(end)
        if clock_in is not None and clock_in.tzinfo is not utc:
            clock_in = as_utc(clock_in)
        if clock_out is not None and clock_out.tzinfo is not utc:
            clock_out = as_utc(clock_out)
        arrival_changed = clock_in is not None and start != clock_in
        departure_changed = clock_out is not None and end != clock_out
        append(
            fact(
                # In VisitFact's field order: visit_id, beneficiary_id, worker_id,
                # service_date, started_at, ended_at, clocked_start, clocked_end,
                # service_code, adjustment, status, antenna_id.
                vid,
                ben,
                wid,
                day,
                start,
                end,
                clock_in,
                clock_out,
                service,
                _code(
                    clock_in is not None,
                    clock_out is not None,
                    arrival_changed or departure_changed,
                    vid in corrected_ids or status in _BY_HAND,
                    arrival_changed,
                    departure_changed,
                ),
                status,
                antenna,
            )
        )
    return visits


def _plans_query(scope: _Scope, *columns: Any, until: Month | None = None) -> Select[Any]:
    """The plans in force during the scope's month, or any month from it to ``until`` (of
    its beneficiary, in its antennas)."""
    last = until or scope.month
    query = (
        select(*columns)
        .select_from(CarePlan)
        .join(Funder, Funder.id == CarePlan.funder_id)
        .where(
            CarePlan.starts_on <= last.last_day,
            or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= scope.month.first_day),
        )
    )
    if scope.beneficiary_id is not None:
        query = query.where(CarePlan.beneficiary_id == scope.beneficiary_id)
    elif scope.worker_id is not None:
        # A worker's visits are allocated on their beneficiaries' plans only: the
        # others' cannot change them, and every plan in force of a referent's month
        # (all antennas) took 0.35 s a month to read for a worker's year of planning.
        query = query.where(
            CarePlan.beneficiary_id.in_(select(Visit.beneficiary_id).where(scope.visit_filter()))
        )
    if scope.antenna_ids is not None:
        query = query.join(Beneficiary, Beneficiary.id == CarePlan.beneficiary_id).where(
            Beneficiary.antenna_id.in_(scope.antenna_ids)
        )
    return query


def _load_plans(
    session: Session,
    scope: _Scope,
    until: Month | None = None,
    *,
    only: Collection[int] | None = None,
) -> list[PlanFact]:
    """The plans in force (of the beneficiaries ``only`` when given)."""
    plan_query = _plans_query(
        scope,
        CarePlan.id,
        CarePlan.beneficiary_id,
        Funder.code,
        Funder.kind,
        CarePlan.service_code,
        CarePlan.reference,
        CarePlan.max_hours,
        CarePlan.starts_on,
        CarePlan.ends_on,
        until=until,
    ).order_by(CarePlan.id)
    if only is not None:
        plan_query = plan_query.where(CarePlan.beneficiary_id.in_(sorted(only)))
    return [
        PlanFact(
            plan_id=plan_id,
            beneficiary_id=ben,
            funder_code=code,
            funder_kind=kind.value,
            departement=kind.is_departement,
            service_code=service,
            reference=reference,
            max_minutes=plan_minutes(float(max_hours)),
            starts_on=starts_on,
            ends_on=ends_on,
        )
        for plan_id, ben, code, kind, service, reference, max_hours, starts_on, ends_on in (
            session.execute(plan_query).all()
        )
    ]


def month_plans(
    session: Session, months: Sequence[Month], antenna_ids: Collection[int] | None = None
) -> dict[Month, list[PlanFact]]:
    """Each month's plans in force (of the beneficiaries of those antennas), as
    ``load_month_facts`` reads them, without the months' visits: read once for them all
    (a year of 9,000 plans is one query, not twelve)."""
    if not months:
        return {}
    ordered = sorted(months)
    first, last = ordered[0], ordered[-1]

    def index(year: int, month: int) -> int:
        return year * 12 + month - 1

    # By month index (a year of 9,000 plans: 100,000 placements, Month objects cost).
    found: dict[int, list[PlanFact]] = {index(m.year, m.month): [] for m in ordered}
    low, high = index(first.year, first.month), index(last.year, last.month)
    for plan in _load_plans(session, _Scope(first, _antennas(antenna_ids), None, None), last):
        # Each month from the plan's first to its last in force (work: the answer's size).
        start, end = plan.starts_on, plan.ends_on
        for key in range(
            max(index(start.year, start.month), low),
            high + 1 if end is None else min(index(end.year, end.month), high) + 1,
        ):
            if key in found:
                found[key].append(plan)
    return {m: found[index(m.year, m.month)] for m in ordered}


def plan_minutes(max_hours: float) -> int:
    """A plan's monthly maximum in whole minutes (hours are notified with two decimals)."""
    return round(max_hours * 60)


def month_billing(
    session: Session,
    month: Month,
    rules: dict[str, Rounding] | None = None,
    antenna_ids: Collection[int] | None = None,
    *,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> tuple[MonthFacts, MonthBilling]:
    """Load a month and allocate it: the figures every output of money starts from.

    Allocated once per state of the month, plans and rules: the review page,
    each validation, the close and every output of an unchanged month reuse
    the same figures (``_marker``).
    """
    scope = _Scope(month, _antennas(antenna_ids), beneficiary_id, worker_id)
    if beneficiary_id is None and worker_id is None:
        composed = _composed(session, scope, rules)
        if composed is not None:
            visits, plans, billing = composed
            return MonthFacts(month, list(visits), list(plans)), billing
    entry = _cached(session, scope)
    billing = _billing(entry, month, rules)
    return MonthFacts(month, list(entry.visits), list(entry.plans)), billing


def _rules_key(rules: dict[str, Rounding] | None) -> tuple[tuple[str, Rounding], ...]:
    return tuple(sorted((rules or {}).items()))


def _billing(entry: _Entry, month: Month, rules: dict[str, Rounding] | None) -> MonthBilling:
    """The entry's facts allocated with these rules, once per entry and rules."""
    key = _rules_key(rules)
    billing = entry.billings.get(key)
    if billing is None:
        billing = allocate_month(month.year, month.month, entry.visits, entry.plans, rules)
        with _LOCK:
            if len(entry.billings) > 1:  # rules rarely change: keep the last two
                entry.billings.pop(next(iter(entry.billings)))
            entry.billings[key] = billing
    return billing


_Composed = tuple[tuple[VisitFact, ...], tuple[PlanFact, ...], MonthBilling]
_ComposedKey = tuple[_Scope, tuple[tuple[str, Rounding], ...]]
#: Per engine, the last months put together from their antennas' (``_composed``): by
#: scope and rules, the parts' entries they were made from and what was made. The
#: visits are the parts' own objects; the tuples of them are all a composition adds.
_COMPOSED: weakref.WeakKeyDictionary[
    Engine,
    OrderedDict[_ComposedKey, tuple[tuple[_Entry, ...], _Composed]],
] = weakref.WeakKeyDictionary()
_COMPOSED_SIZE = 4


def _composed(
    session: Session, scope: _Scope, rules: dict[str, Rounding] | None
) -> _Composed | None:
    """The month of several antennas (all: None) put together from each antenna's month,
    read and allocated on its own (and cached, and warmed: ``warm_months``), or None when
    a beneficiary's visits or plans fall in two of them (then the scope is read whole).

    A beneficiary's allocation is theirs alone (``_changed_entry``), and each visit or
    plan is in exactly one antenna's month (a visit's antenna, a plan's beneficiary's),
    so the scope's figures are its antennas' side by side, in the order a whole
    allocation gives them (``_merged``'s rule; ``tests/ledger/test_facts_reading.py``
    holds the two to each other). A referent's month of all antennas was a reading
    of its own, more visits than the cache holds beside the antennas' months: 4.7 to
    7.9 s of a statistics overview at ten million visits, at every first request.
    """
    month = scope.month
    antenna_ids = (
        scope.antenna_ids
        if scope.antenna_ids is not None
        else tuple(session.scalars(select(Antenna.id).order_by(Antenna.id)))
    )
    if len(antenna_ids) < 2:
        return None
    markers = _markers(session, [_Scope(month, (a,), None, None) for a in antenna_ids])
    parts = tuple(_cached(session, single, marker) for single, marker in markers.items())
    seen = [_beneficiaries(part) for part in parts]
    if sum(map(len, seen)) != len(frozenset().union(*seen)):
        return None
    key = (scope, _rules_key(rules))
    billings = [_billing(part, month, rules) for part in parts]
    engine = _engine(session)
    with _LOCK:
        made = _COMPOSED.setdefault(engine, OrderedDict()).get(key)
    if made is not None and len(made[0]) == len(parts) and all(map(_same, made[0], parts)):
        return made[1]
    # Each part is in the whole's order already: the sorts merge runs.
    with without_cyclic_gc():
        visits = tuple(sorted(chain.from_iterable(p.visits for p in parts), key=_visit_id))
        plans = tuple(sorted(chain.from_iterable(p.plans for p in parts), key=_plan_id))
        billing = _in_whole_order(
            month.year,
            month.month,
            chain.from_iterable(b.visits for b in billings),
            chain.from_iterable(b.unbillable for b in billings),
            chain.from_iterable(b.lines for b in billings),
        )
    composed = (visits, plans, billing)
    with _LOCK:
        entries = _COMPOSED.setdefault(engine, OrderedDict())
        entries[key] = (parts, composed)
        entries.move_to_end(key)
        while len(entries) > _COMPOSED_SIZE:
            entries.popitem(last=False)
    return composed


def _same(a: _Entry, b: _Entry) -> bool:
    return a is b
