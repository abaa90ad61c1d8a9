"""A new worker reads each antenna's open months before it takes requests.

``extranet.stats.warm`` fills ``ledger.facts``' cache so that a worker's first
statistics request on an open month does not read and allocate it cold. A
warmed month must then be served without reading its visits again; a closed
month, a month past the time allowed or one that does not fit the cache is
not warmed; and a failure to warm never stops a worker from serving.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from extranet.stats import queries
from extranet.stats import warm as warm_module
from extranet.stats.filters import PeriodKind
from extranet.stats.loaders import Context
from extranet.stats.report import Report
from extranet.stats.states import STATES
from extranet.stats.warm import open_months, warm
from kernel.settings import money
from ledger import facts
from ledger.facts import forget_cached_months, month_billing, warm_months
from ledger.models import MonthClosure
from ledger.timeutil import Month
from tests.conftest import PG_URL
from tests.extranet.conftest import NOW, Scenario, Server
from tests.extranet.stats.conftest import logged_in, page, table
from tests.factories import SmallOrg

NOVEMBER = Month(2026, 11)
#: The states warmed: those that have months (not state 12, by half-year).
MONTHLY = [slug for slug, state in STATES.items() if PeriodKind.MONTH in state.periods]
OCTOBER = Month(2026, 10)


class Read(Exception):
    """A month's visits were read from the database."""


def _refuse_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, reading any month's visits fails the test."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise Read

    monkeypatch.setattr(facts, "_load_visits", refuse)


def test_a_warmed_month_is_not_read_again(
    app: Flask, session: Session, scenario: Scenario, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_cached_months()
    done = warm(app, 30)
    a, b = org.antenna_a.id, org.antenna_b.id
    # The current month (November, by the app's clock) and October, not closed.
    assert set(done.months) >= {(NOVEMBER, (a,)), (NOVEMBER, (b,)), (OCTOBER, (a,))}
    assert done.states == MONTHLY
    assert done.templates > 0

    _refuse_reading(monkeypatch)
    billing = month_billing(session, NOVEMBER, money().rules, [a])[1]
    assert billing.visits, "the scenario's November has visits"
    # Both antennas at once, and all (a referent's), are put together from the warmed
    # antennas' months: nothing read either.
    both = month_billing(session, NOVEMBER, money().rules, [a, b])[1]
    assert len(both.visits) > len(billing.visits)
    assert month_billing(session, NOVEMBER, money().rules)[1] == both
    # A scope that was not warmed (one worker's month) is read: the check can fail.
    with pytest.raises(Read):
        month_billing(session, NOVEMBER, money().rules, [a], worker_id=org.worker_a1.id)


def test_a_state_page_after_warming_reads_no_month(
    app: Flask, scenario: Scenario, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manager's first statistics page of the open month, on a warmed app."""
    forget_cached_months()
    warm(app, 30)
    _refuse_reading(monkeypatch)
    client = logged_in(app.test_client(), "resp-a")
    doc = page(client, "/statistiques/beneficiaires?periode=mois&mois=2026-11")
    assert table(doc, "heures-beneficiaires")


def test_the_referents_overview_is_ready_after_warming(
    app: Flask, scenario: Scenario, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A referent's first overview (six months of every antenna) is the warm-up's; a
    manager's (not warmed: one antenna's overview is cheap) is computed."""
    forget_cached_months()
    assert warm(app, 30).overviews == 1
    computed: list[str] = []
    hours_tables = queries.hours_tables

    def counting(*args: Any, **kwargs: Any) -> Any:
        computed.append("hours")
        return hours_tables(*args, **kwargs)

    monkeypatch.setattr(queries, "hours_tables", counting)
    doc = page(logged_in(app.test_client(), "referent"), "/statistiques")
    assert len(doc.xpath("//table")) == 3
    assert computed == []
    page(logged_in(app.test_client(), "resp-a"), "/statistiques")
    assert computed == ["hours"]


def test_warming_stops_at_its_time(session: Session, scenario: Scenario, org: SmallOrg) -> None:
    forget_cached_months()
    ticks = itertools.count()
    a = org.antenna_a.id
    scopes = [(NOVEMBER, [a]), (OCTOBER, [a])]
    # The clock passes ``until`` after the first month: the second is not read.
    warmed = warm_months(session, scopes, None, until=1, clock=lambda: next(ticks))
    assert warmed == [(NOVEMBER, (a,))]
    forget_cached_months()
    assert warm_months(session, scopes, None, until=0, clock=lambda: 0) == []


def test_a_month_that_does_not_fit_the_cache_is_skipped(
    session: Session, scenario: Scenario, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_cached_months()
    a, b = org.antenna_a.id, org.antenna_b.id
    sizes = {scope: month_billing(session, NOVEMBER, None, [scope])[0].visits for scope in (a, b)}
    forget_cached_months()
    # Room (three quarters of the cache) for one antenna's November, not for both.
    one = len(sizes[a])
    assert one > 0
    monkeypatch.setattr(facts, "_CACHE_VISITS", (one * 4 + 3) // 3)
    both = [(NOVEMBER, [a, b]), (NOVEMBER, [a])]
    assert warm_months(session, both, None, until=float("inf")) == [(NOVEMBER, (a,))]


def test_closed_months_are_not_warmed(session: Session, scenario: Scenario, org: SmallOrg) -> None:
    today = NOW.date()
    assert open_months(session, today) == [NOVEMBER, OCTOBER, Month(2026, 9)]
    session.add(MonthClosure(year=2026, month=10, closed=True, revision=1))
    session.commit()
    assert open_months(session, today) == [NOVEMBER]


def test_a_failure_to_warm_leaves_the_worker_serving(
    app: Flask, scenario: Scenario, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> list[object]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(warm_module, "warm_months", broken)
    done = warm(app, 30)
    assert done.months == []
    assert done.states == MONTHLY, "what was warmed before the failure stays warm"
    assert app.test_client().get("/sante").status_code == 200


def test_a_state_that_fails_to_warm_leaves_the_others_warmed(
    app: Flask, scenario: Scenario, org: SmallOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_ctx: Context) -> Report:
        raise RuntimeError("a bug in state 5")

    monkeypatch.setitem(STATES, "non-identifies", replace(STATES["non-identifies"], build=broken))
    forget_cached_months()
    done = warm(app, 30)
    assert done.states == [slug for slug in MONTHLY if slug != "non-identifies"]
    assert (NOVEMBER, (org.antenna_a.id,)) in done.months


@pytest.mark.skipif(not PG_URL, reason="statement_timeout is PostgreSQL's")
@pytest.mark.timeout(120)  # without the limit, the warming waits for the lock forever
def test_a_locked_table_makes_the_worker_serve_cold_not_never(
    app: Flask, engine: Engine, scenario: Scenario
) -> None:
    forget_cached_months()
    with engine.connect() as locker:
        locker.execute(text("LOCK TABLE visits IN ACCESS EXCLUSIVE MODE"))
        done = warm(app, 2)
        locker.rollback()
    assert (done.months, done.states) == ([], [])
    # The pooled connection went back without the warming's limit.
    with engine.connect() as connection:
        assert connection.scalar(text("SHOW statement_timeout")) == "0"


def test_gunicorn_workers_warm_at_start(
    scenario: Scenario, gunicorn: Server, data_dir: Path
) -> None:
    """The production entry point (``extranet.wsgi``) warms each worker: the open
    months of both antennas (by the real clock: this month and the two before, none
    closed) and every state."""
    log = data_dir / "gunicorn.log"
    found: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    while len(found) < 2 and time.monotonic() < deadline:
        # The first worker may answer before the second has warmed.
        time.sleep(0.2)
        found = WARMED.findall(log.read_text())
    assert found == [("6", str(len(MONTHLY)))] * 2, log.read_text()
    assert httpx.get(f"{gunicorn.url}/sante", timeout=10).status_code == 200


WARMED = re.compile(r"worker warmed: (\d+) month\(s\) of an antenna, (\d+) state\(s\)")
