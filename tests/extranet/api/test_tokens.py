"""Administrators create and revoke API tokens in the extranet (French pages, CSRF)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.models import ApiToken
from ledger.models import AuditEntry
from tests.extranet.api.conftest import bearer
from tests.extranet.conftest import Scenario, csrf_token, login

SECRET = re.compile(r'id="jeton-api">(tg_[A-Za-z0-9_-]+)<')


def test_an_administrator_creates_a_token_shown_once_then_revokes_it(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert login(client, "admin") == 302
    token = csrf_token(client, "/administration/jetons-api/nouveau")
    page = client.post(
        "/administration/jetons-api/nouveau",
        data={
            "csrf_token": token,
            "name": "Logiciel de planification",
            "write": "y",
            "antenna": str(scenario.a.antenna.id),
        },
    )
    assert page.status_code == 200
    found = SECRET.search(page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    secret = found.group(1)
    stored = session.scalars(select(ApiToken)).one()
    assert stored.scopes == "read write" and stored.antenna_id == scenario.a.antenna.id
    assert stored.created_by == "admin" and secret not in stored.token_hash
    listing = client.get("/administration/jetons-api").get_data(as_text=True)
    assert "Logiciel de planification" in listing and secret not in listing
    assert client.get("/api/v1/workers", headers=bearer(secret)).status_code == 200

    revoked = client.post(
        f"/administration/jetons-api/{stored.id}/revoquer",
        data={"csrf_token": csrf_token(client, "/administration/jetons-api")},
    )
    assert revoked.status_code == 302
    assert client.get("/api/v1/workers", headers=bearer(secret)).status_code == 401
    actions = [
        (e.action, e.actor)
        for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("api_token.%")).order_by(AuditEntry.id)
        )
    ]
    assert actions == [("api_token.created", "admin"), ("api_token.revoked", "admin")]


def test_a_token_needs_a_name_and_the_form_its_csrf_token(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert login(client, "admin") == 302
    token = csrf_token(client, "/administration/jetons-api/nouveau")
    empty = client.post(
        "/administration/jetons-api/nouveau", data={"csrf_token": token, "name": "  "}
    )
    assert empty.status_code == 422
    assert "Indiquez le nom du système client." in empty.get_data(as_text=True)
    forged = client.post("/administration/jetons-api/nouveau", data={"name": "Sans jeton CSRF"})
    assert forged.status_code == 400
    assert session.scalars(select(ApiToken)).all() == []


def test_a_manager_cannot_reach_the_tokens(client: FlaskClient, scenario: Scenario) -> None:
    assert login(client, "resp-a") == 302
    assert client.get("/administration/jetons-api").status_code == 403
