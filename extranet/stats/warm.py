"""Warm a new worker before it takes requests (``extranet.wsgi`` builds the app in each).

A new process's first statistics request on an open month paid for the month's
cold reading and allocation (0.64 s of CPU for one antenna's 20,000 visits at ten
million) and for the first use of the templates, of SQLAlchemy's statement caches
and of the states' code (0.3 s): over the second a manager's page may take.
Done here, before gunicorn hands the worker a connection, nobody waits for it
but a restart. Closed months need no warming: they are read from the kept figures.
Last, the referents' overview (six months of every antenna, put together from the
antennas' months just read) is computed once into the statistics cache: its first
computation in a worker was the slowest page of the bench at ten million visits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extranet.stats.charts import svg
from extranet.stats.controllers import OVERVIEW_MONTHS, PAGE_ROWS, overview
from extranet.stats.filters import FilterError, PeriodKind, parse_filters
from extranet.stats.loaders import Context
from extranet.stats.states import STATES
from kernel.settings import money
from ledger.closures import is_closed
from ledger.facts import warm_months
from ledger.models import Antenna
from ledger.timeutil import Month, paris_date

log = logging.getLogger(__name__)

#: Months before the current one that may still be open (not yet closed) and warmed.
EARLIER_MONTHS = 2


def _limit(session: Session, until: float, clock: Callable[[], float]) -> None:
    """On PostgreSQL, no statement of the warming outlasts its time left (a lock held by
    a migration, a server that stopped answering): the worker then serves cold, not
    never. Local to the transaction: the pooled connection goes back as it was."""
    if session.get_bind().dialect.name == "postgresql":
        left = max(1, int((until - clock()) * 1000))
        session.execute(select(func.set_config("statement_timeout", f"{left}ms", True)))


@dataclass(frozen=True)
class Warmed:
    months: list[tuple[Month, tuple[int, ...] | None]]
    states: list[str]
    templates: int
    #: 1 when the referents' overview was computed (and cached), else 0.
    overviews: int = 0


@dataclass(frozen=True)
class _EveryAntenna:
    """Whoever sees every antenna (a central referent): the overview's scope warmed."""

    sees_all_antennas: bool = True
    antenna_id: int | None = None
    antenna: Antenna | None = None


EVERY_ANTENNA = _EveryAntenna()


def open_months(session: Session, today: date) -> list[Month]:
    """The current month, then each month before it not yet closed (newest first)."""
    month = Month(today.year, today.month)
    found = [month]
    for _ in range(EARLIER_MONTHS):
        month = month.previous()
        if is_closed(session, month):
            break
        found.append(month)
    return found


def warm(
    app: Flask,
    seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Warmed:
    """Compile the templates, build every state once, read each antenna's open months,
    then compute the referents' overview, within ``seconds``. Never raises: a worker
    that could not warm still serves (its first requests are slower)."""
    started = clock()
    until = started + seconds
    config = app.extensions["telegestion"]
    moment: datetime = config.clock()
    today = paris_date(moment)
    months: list[tuple[Month, tuple[int, ...] | None]] = []
    states: list[str] = []
    templates = overviews = 0
    session: Session = config.session_factory()
    try:
        _limit(session, until, clock)
        # The cheapest first: templates, then every state (the first antenna's current
        # month read on the way), then the other months, until the time is up.
        for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith(".html")):
            app.jinja_env.get_template(name)
            templates += 1
        antennas = list(session.scalars(select(Antenna.id).order_by(Antenna.id)))
        if antennas:
            # Every state once, as a manager of the first antenna: its statements compiled
            # and cached by SQLAlchemy, its code and the charts' first used.
            with app.test_request_context("/statistiques"):
                for slug, state in STATES.items():
                    if clock() >= until:
                        break
                    if PeriodKind.MONTH not in state.periods:
                        continue  # state 12, by half-year: it would read six months
                    try:
                        # The current month, whatever the state's default: a year would read
                        # every month of it not yet closed.
                        filters = parse_filters(
                            {"periode": PeriodKind.MONTH.value},
                            today,
                            periods=state.periods,
                            default=state.default,
                            options=state.option_values,
                        )
                    except FilterError:
                        continue
                    ctx = Context(
                        session, frozenset(antennas[:1]), filters, today, moment, PAGE_ROWS
                    )
                    try:
                        for chart in state.build(ctx).charts:
                            svg(chart)
                    except Exception:  # noqa: BLE001 - the request will say it; warm the rest
                        log.exception("warming state %s failed", slug)
                        session.rollback()
                        _limit(session, until, clock)
                        continue
                    states.append(slug)
        # Oldest first: the current month, asked most, is then the last to be dropped
        # from the cache (it drops the least recently used).
        scopes = [
            (month, (aid,)) for month in reversed(open_months(session, today)) for aid in antennas
        ]
        # The rules the states read the months with (``loaders.months``): the same cache key.
        months = warm_months(session, scopes, money().rules, until=until, clock=clock)
        if antennas and clock() < until:
            # The referents' overview (six months of every antenna, their first page): its
            # statements compiled, its months put together from the antennas' just read,
            # and its tables cached for whoever asks first.
            with app.test_request_context("/statistiques"):
                overview(session, EVERY_ANTENNA, OVERVIEW_MONTHS, moment)
            overviews = 1
    except Exception:  # noqa: BLE001 - warming is an optimisation, never a reason not to serve
        log.exception("warming the worker failed; it serves cold")
    finally:
        session.rollback()
        session.close()
    log.info(
        "worker warmed: %d month(s) of an antenna, %d state(s), %d template(s), "
        "%d overview in %.1f s",
        len(months),
        len(states),
        templates,
        overviews,
        clock() - started,
    )
    return Warmed(months, states, templates, overviews)
