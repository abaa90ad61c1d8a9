"""Keyset pagination: every page of a list, walked to its end, gives the whole list once.

The incomplete calls (visits and calls merged, oldest first, ties included) and
the day's visits (by worker or beneficiary) are read a page at a time; the
alerts list the month's first ``LIMIT`` incomplete calls only.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.alerts import queries as alert_queries
from extranet.calls import controllers as call_controllers
from extranet.calls.queries import Cursor, incomplete, incomplete_page
from extranet.models import User
from extranet.visits import controllers as visit_controllers
from ledger.models import (
    CallEvent,
    CallOutcome,
    CallSource,
    Identification,
    Visit,
    VisitStatus,
)
from tests import factories
from tests.extranet.conftest import NOW, TODAY, Scenario, login

SINCE = TODAY - timedelta(days=62)


def _add_incomplete(session: Session, scenario: Scenario) -> None:
    """Incomplete visits and unplaced calls, several at the very same moment."""
    side = scenario.a
    for n in range(7):
        at = NOW - timedelta(days=3, hours=n % 3)  # three moments, shared
        session.add(
            Visit(
                worker_id=side.worker.id,
                beneficiary_id=side.beneficiary.id,
                antenna_id=side.antenna.id,
                started_at=None,
                ended_at=at,
                service_date=TODAY - timedelta(days=3),
                status=VisitStatus.INCOMPLETE,
                version=1,
            )
        )
        session.add(
            CallEvent(
                channel_id=f"page-{n}",
                received_at=at,
                answered_at=at,
                caller_e164=None,
                worker_id=side.worker.id,
                beneficiary_id=None,
                antenna_id=side.antenna.id,
                identification=Identification.UNKNOWN_NUMBER,
                outcome=CallOutcome.RECORDED,
                source=CallSource.ARI,
            )
        )
    # An arrival without departure for less than the grace: not listed.
    session.add(
        Visit(
            worker_id=side.worker.id,
            beneficiary_id=side.beneficiary.id,
            antenna_id=side.antenna.id,
            started_at=NOW - timedelta(hours=1),
            ended_at=None,
            service_date=TODAY,
            status=VisitStatus.INCOMPLETE,
            version=1,
        )
    )
    session.commit()


def _key(item: object) -> tuple[str, int]:
    visit, event = getattr(item, "visit", None), getattr(item, "event", None)
    return ("visit", visit.id) if visit is not None else ("call", event.id)  # type: ignore[union-attr]


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_incomplete_pages_walked_give_the_whole_list_once(
    session: Session, scenario: Scenario, limit: int
) -> None:
    _add_incomplete(session, scenario)
    user = session.get_one(User, scenario.users["referent"])
    whole = [_key(i) for i in incomplete(session, user, since=SINCE, now=NOW)]
    assert len(whole) == 7 + 7 + 4  # and the scenario's own, two per side
    walked: list[tuple[str, int]] = []
    after: Cursor | None = None
    for _ in range(len(whole) + 1):
        page = incomplete_page(session, user, since=SINCE, now=NOW, limit=limit, after=after)
        assert len(page.items) <= limit
        walked += [_key(i) for i in page.items]
        if page.next is None:
            break
        after = Cursor.parse(page.next.token())
    assert walked == whole
    items = incomplete(session, user, since=SINCE, now=NOW)
    assert [i.cursor for i in items] == sorted(i.cursor for i in items)


def test_the_incomplete_calls_page_links_to_the_next(
    client: FlaskClient, session: Session, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_incomplete(session, scenario)
    monkeypatch.setattr(call_controllers, "PAGE", 4)
    login(client, "resp-a")  # who may attach a call: its button names it
    path = f"/appels/incomplets?depuis={SINCE.isoformat()}"
    seen: list[tuple[str, str]] = []
    for _ in range(10):
        page = client.get(path).get_data(as_text=True)
        seen += re.findall(r"l'(intervention|appel) (\d+)</span>", page)
        found = re.search(r'href="([^"]+)">Page suivante', page)
        if not found:
            break
        path = found.group(1).replace("&amp;", "&")
    assert len(seen) == len(set(seen)) == 7 + 7 + 2
    # A malformed cursor starts the list again.
    for token in ("n'importe", "2026-11-01T00:00:00+00:00_2_1", "2026-11-01_0_" + "9" * 30):
        assert Cursor.parse(token) is None
        assert client.get(f"/appels/incomplets?apres={token}").status_code == 200


def test_alerts_list_the_first_incomplete_calls_only(
    client: FlaskClient, session: Session, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_incomplete(session, scenario)
    monkeypatch.setattr(alert_queries, "LIMIT", 5)
    login(client, "referent")
    page = client.get("/alertes").get_data(as_text=True)
    assert "(5 premiers)" in page
    assert "Tous les appels incomplets du mois" in page


@pytest.mark.parametrize("view", ["intervenants", "beneficiaires"])
def test_the_days_visits_pages_walked_give_every_visit_once(
    client: FlaskClient,
    session: Session,
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    view: str,
) -> None:
    side = scenario.a
    for n in range(5):
        worker = factories.worker(session, side.antenna)
        ben = factories.beneficiary(session, side.antenna)
        worker.last_name = ben.last_name = "Même"  # the same name: the id decides
        start = NOW - timedelta(hours=n)
        session.add(
            Visit(
                worker_id=worker.id,
                beneficiary_id=ben.id,
                antenna_id=side.antenna.id,
                started_at=start,
                ended_at=start + timedelta(minutes=30),
                service_date=TODAY,
                status=VisitStatus.COMPLETE,
                version=1,
            )
        )
    session.commit()
    day = [
        str(i)
        for i in session.scalars(
            select(Visit.id).where(Visit.service_date == TODAY, Visit.status != VisitStatus.DELETED)
        )
    ]
    monkeypatch.setattr(visit_controllers, "DAY_PAGE", 2)
    login(client, "referent")
    path = f"/interventions/aujourdhui?vue={view}"
    seen: list[str] = []
    for _ in range(20):
        page = client.get(path).get_data(as_text=True)
        assert f"{len(day)} interventions" in page
        seen += re.findall(r"de l'intervention (\d+)</span>", page)
        found = re.search(r'href="([^"]+)">Page suivante', page)
        if not found:
            break
        path = found.group(1).replace("&amp;", "&")
        assert "apres=" in path
        assert client.get(path + "&fragment=1").status_code == 200
    assert sorted(seen) == sorted(day)
