"""Clôture mensuelle through the app: progress, pro-forma from the rules of money, close, reopen.

The app's clock is pinned on 20 November 2026: October is in review (its
cut-off was 5 November at 23:59), November is open.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import closures, service
from ledger.facts import month_billing
from ledger.models import AuditEntry, Visit
from ledger.money import format_hours
from ledger.pairing import Direction
from ledger.timeutil import Month
from tests.extranet.conftest import Scenario, csrf_token, login
from tests.factories import SmallOrg
from tests.ledger.test_service import record

OCTOBER = Month(2026, 10)
AT = datetime(2026, 10, 14, 7, 0, 20, tzinfo=UTC)


@pytest.fixture
def october(session: Session, scenario: Scenario, org: SmallOrg) -> Visit:
    """A 47-minute October visit at side A's beneficiary (APA plan), and an orphan departure.

    By a worker with no later visit there: calls recorded out of order would not pair.
    """
    w, b = org.worker_a2.id, scenario.a.beneficiary.id
    service.record_call(
        session, record("oct-in", AT, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
    )
    done = service.record_call(
        session,
        record(
            "oct-out",
            AT + timedelta(minutes=47),
            worker_id=w,
            beneficiary_id=b,
            direction=Direction.DEPARTURE,
        ),
    )
    service.record_call(
        session,
        record(
            "oct-orphan",
            AT + timedelta(days=1),
            worker_id=w,
            beneficiary_id=b,
            direction=Direction.DEPARTURE,
        ),
    )
    session.commit()
    assert done.visit_id is not None
    return session.get_one(Visit, done.visit_id)


def _switch(client: FlaskClient, login_: str) -> None:
    """Log out, then in as someone else (one client: the app context keeps its user)."""
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/cloture/2026-10")})
    assert login(client, login_) == 302


def _post(client: FlaskClient, url: str, **data: str) -> tuple[int, str]:
    token = csrf_token(client, "/cloture/2026-10")
    response = client.post(url, data={"csrf_token": token, **data})
    if response.status_code == 302:
        response = client.get(response.headers["Location"])
    return response.status_code, response.get_data(as_text=True)


def _correct(client: FlaskClient, visit: Visit, end: str) -> tuple[int, str]:
    token = csrf_token(client, f"/interventions/{visit.id}")
    response = client.post(
        f"/interventions/{visit.id}/corriger",
        data={
            "csrf_token": token,
            "started_at": "2026-10-14T09:00",
            "ended_at": end,
            "motive": "time_error",
        },
    )
    return response.status_code, response.get_data(as_text=True)


def test_referent_sees_each_antennas_progress_and_the_pro_forma(
    client: FlaskClient, scenario: Scenario, october: Visit, session: Session
) -> None:
    assert login(client, "referent") == 302
    page = client.get("/cloture/2026-10").get_data(as_text=True)
    assert "En revue" in page and "5 novembre 2026 à 23 h 59" in page
    progress = page[page.index('id="avancement"') :]
    row_a = re.search(rf"<td>{scenario.a.antenna.name}</td>\s*<td>(\d+)</td>", progress)
    row_b = re.search(rf"<td>{scenario.b.antenna.name}</td>\s*<td>(\d+)</td>", progress)
    assert row_a and row_a.group(1) == "1"  # the orphan departure of 15 October
    assert row_b and row_b.group(1) == "0"
    # The figures are the ledger's: 47 minutes (seconds dropped at both ends) for A's APA.
    _facts, billing = month_billing(session, OCTOBER)
    assert billing.minutes_by_funder() == {scenario.a.funder_code: 47}
    assert format_hours(47) in page and "À valider" in page
    detail = client.get(
        f"/cloture/2026-10/financeurs/{scenario.a.funder_code}/interventions"
        f"?beneficiaire={scenario.a.beneficiary.id}"
    ).get_data(as_text=True)
    assert f"/interventions/{october.id}" in detail and "0 h 47" in detail
    # November is still open: J-15.
    november = client.get("/cloture/2026-11").get_data(as_text=True)
    assert "Ouvert aux corrections" in november and "dans 15 jours" in november


def test_manager_sees_what_to_correct_and_a_read_only_pro_forma(
    client: FlaskClient, scenario: Scenario, october: Visit
) -> None:
    assert login(client, "resp-a") == 302
    page = client.get("/cloture/2026-10").get_data(as_text=True)
    assert "1 appel incomplet à traiter" in page
    assert "Lecture seule" in page and "/valider" not in page and "/cloturer" not in page
    assert scenario.b.antenna.name not in page.split('id="contenu"')[1]


def test_validate_close_refuse_reopen_and_close_again(
    client: FlaskClient, scenario: Scenario, october: Visit, session: Session
) -> None:
    funder = scenario.a.funder_code
    assert login(client, "referent") == 302
    status, page = _post(client, "/cloture/2026-10/cloturer")
    assert status == 422 and f"pro forma à valider pour {funder}" in page
    status, page = _post(client, f"/cloture/2026-10/financeurs/{funder}/valider")
    assert status == 200 and "Pro forma validé." in page and "Validé" in page
    status, page = _post(client, "/cloture/2026-10/cloturer")
    assert status == 200 and "Mois de octobre 2026 clôturé (révision 1)." in page
    assert closures.closed_revision(session, OCTOBER) == 1

    _switch(client, "resp-a")
    status, page = _correct(client, october, "2026-10-14T10:00")
    assert status == 422
    assert "Le mois de octobre 2026 est clôturé" in page and "référent central" in page
    _switch(client, "referent")

    status, page = _post(client, "/cloture/2026-10/rouvrir", motive="")
    assert status == 422 and "motif de réouverture est obligatoire" in page
    status, page = _post(client, "/cloture/2026-10/rouvrir", motive="Visite du 14 mal saisie")
    assert status == 200 and "rouvert" in page and "Visite du 14 mal saisie" in page

    _switch(client, "resp-a")
    status, _page = _correct(client, october, "2026-10-14T10:00")
    assert status == 302
    _switch(client, "referent")
    page = client.get("/cloture/2026-10").get_data(as_text=True)
    assert "1 h 00" in page and "À valider" in page
    _post(client, f"/cloture/2026-10/financeurs/{funder}/valider")
    status, page = _post(client, "/cloture/2026-10/cloturer")
    assert "révision 2" in page
    session.expire_all()
    actions = [
        (e.actor, e.action)
        for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("month.%")).order_by(AuditEntry.id)
        )
    ]
    assert actions == [
        ("referent", "month.validated"),
        ("referent", "month.closed"),
        ("referent", "month.reopened"),
        ("referent", "month.validated"),
        ("referent", "month.closed"),
    ]


def test_the_forms_need_their_csrf_token(
    client: FlaskClient, scenario: Scenario, october: Visit, session: Session
) -> None:
    assert login(client, "referent") == 302
    for url in (
        f"/cloture/2026-10/financeurs/{scenario.a.funder_code}/valider",
        "/cloture/2026-10/cloturer",
        "/cloture/2026-10/rouvrir",
    ):
        assert client.post(url, data={"motive": "sans jeton"}).status_code == 400
    assert closures.validations(session, OCTOBER) == {}
    assert not closures.life_of(session, OCTOBER).closed
