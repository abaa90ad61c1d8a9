"""The REST API's rules: tokens (absent, unknown, revoked, read-only), the
antenna isolation of the extranet, the ledger's rules and month locks on
writes, the rate limit, the audit of every call, and no 500 to malformed input."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extranet.models import ApiToken
from ledger.models import AuditEntry, MonthClosure, Visit, VisitStatus
from tests.extranet.api.conftest import Tokens, bearer, issue
from tests.extranet.conftest import NOW, Scenario, Side, make_app

#: Paris wall time 14:00 on the scenario's day, as an instant with its offset.
START = "2026-11-20T09:00:00+01:00"
END = "2026-11-20T10:30:00+01:00"


def _get(client: FlaskClient, secret: str, url: str, **kwargs: Any) -> Any:
    return client.get(url, headers=bearer(secret), **kwargs)


def _post(client: FlaskClient, secret: str, url: str, body: Any) -> Any:
    return client.post(url, headers=bearer(secret), json=body)


#: A correction's body that the ledger accepts (the scenario's day, Paris).
FIX = {"started_at": START, "ended_at": END, "motive": "worker_forgot"}


def _manual(side: Side) -> dict[str, Any]:
    """A manual visit's body for this side's worker and beneficiary."""
    return {"worker_id": side.worker.id, "beneficiary_id": side.beneficiary.id, **FIX}


def _correct(client: FlaskClient, secret: str, visit_id: int, **body: Any) -> Any:
    return _post(client, secret, f"/api/v1/visits/{visit_id}/corrections", {**FIX, **body})


def _calls(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "api.call")
    )


# --- tokens ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer tg_inconnu", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000],
)
def test_without_a_known_token_the_answer_is_401_in_french(
    client: FlaskClient, api_tokens: Tokens, session: Session, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/api/v1/visits", headers=headers)
    assert response.status_code == 401
    assert response.json == {
        "code": "unauthenticated",
        "message": "Jeton d'accès absent, inconnu ou révoqué.",
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _calls(session) == 0  # anonymous calls are logged, not journalled


def test_a_logged_in_session_is_no_credential(client: FlaskClient, scenario: Scenario) -> None:
    from tests.extranet.conftest import login

    assert login(client, "admin") == 302
    assert client.get("/api/v1/visits").status_code == 401
    assert client.post("/api/v1/visits", json={}).status_code == 401


def test_a_revoked_token_is_refused_and_the_attempt_journalled(
    client: FlaskClient, api_tokens: Tokens, session: Session
) -> None:
    response = _get(client, api_tokens.revoked, "/api/v1/visits")
    assert response.status_code == 401
    assert response.json["code"] == "token_revoked"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "api.call")).one()
    assert entry.actor.startswith("api:Ancien SUD#")
    assert entry.details["status"] == 401


def test_only_the_hash_of_the_secret_is_stored(api_tokens: Tokens, session: Session) -> None:
    stored = session.scalars(select(ApiToken)).all()
    assert len(stored) == 4
    for token in stored:
        assert api_tokens.central not in (token.token_hash, token.prefix)
        assert len(token.token_hash) == 64
    assert api_tokens.central.startswith("tg_") and len(api_tokens.central) > 40


def test_a_read_only_token_cannot_write(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario, session: Session
) -> None:
    visit = scenario.a.incomplete_visit
    before = session.scalar(select(Visit.version).where(Visit.id == visit.id))
    response = _correct(client, api_tokens.reader_a, visit.id)
    assert response.status_code == 403
    assert response.json["code"] == "scope_missing"
    manual = _post(client, api_tokens.reader_a, "/api/v1/visits", _manual(scenario.a))
    assert manual.status_code == 403
    session.expire_all()
    assert session.scalar(select(Visit.version).where(Visit.id == visit.id)) == before
    assert _get(client, api_tokens.reader_a, "/api/v1/visits").status_code == 200


# --- isolation -------------------------------------------------------------


def _b_urls(s: Scenario) -> list[str]:
    return [
        f"/api/v1/visits/{s.b.complete_visit.id}",
        f"/api/v1/visits/{s.b.incomplete_visit.id}",
        f"/api/v1/beneficiaries/{s.b.beneficiary.id}",
        f"/api/v1/workers/{s.b.worker.id}",
        f"/api/v1/call-events/{s.b.unknown_call.id}",
    ]


def test_a_token_of_antenna_a_reaches_no_object_of_b_by_id(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario
) -> None:
    for url in _b_urls(scenario):
        response = _get(client, api_tokens.writer_a, url)
        assert response.status_code == 404, url
        assert response.json["code"] == "not_found"
        # The central token does see them: the 404 is the scope, not a missing object.
        assert _get(client, api_tokens.central, url).status_code == 200, url


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v1/visits", "antenna_id"),
        ("/api/v1/beneficiaries", "antenna_id"),
        ("/api/v1/workers", "antenna_id"),
        ("/api/v1/call-events", "antenna_id"),
    ],
)
def test_a_token_of_antenna_a_lists_nothing_of_b(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario, path: str, key: str
) -> None:
    a, b = scenario.a.antenna.id, scenario.b.antenna.id
    mine = _get(client, api_tokens.writer_a, path).json["items"]
    assert mine and {item[key] for item in mine} == {a}
    # Asking for B by filter gives an empty page, not B's rows nor an error.
    asked = _get(client, api_tokens.writer_a, f"{path}?antenna_id={b}")
    assert asked.status_code == 200 and asked.json["items"] == []
    # By another filter naming B's people: nothing either.
    for name, value in (
        ("worker_id", scenario.b.worker.id),
        ("beneficiary_id", scenario.b.beneficiary.id),
    ):
        if path in ("/api/v1/visits", "/api/v1/call-events"):
            other = _get(client, api_tokens.writer_a, f"{path}?{name}={value}")
            assert other.status_code == 200 and other.json["items"] == []
    everyone = _get(client, api_tokens.central, path).json["items"]
    assert {item[key] for item in everyone} >= {a, b}


def test_statistics_of_a_token_of_antenna_a_hold_nothing_of_b(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario
) -> None:
    own = _get(client, api_tokens.writer_a, "/api/v1/statistics?from=2026-11&to=2026-11")
    assert own.status_code == 200
    labels = {f["label"] for f in own.json["hours_by_antenna"] + own.json["incomplete_rates"]}
    assert labels == {scenario.a.antenna.name}
    central = _get(client, api_tokens.central, "/api/v1/statistics?from=2026-11&to=2026-11")
    labels = {f["label"] for f in central.json["hours_by_antenna"]}
    assert labels == {scenario.a.antenna.name, scenario.b.antenna.name}
    # One complete visit of 60 minutes in A (ledger.money through ledger.facts).
    assert own.json["hours_by_antenna"] == [
        {"label": scenario.a.antenna.name, "month": "2026-11", "value": 60.0}
    ]


def test_a_token_of_antenna_a_cannot_write_to_b(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario, session: Session
) -> None:
    correction = _correct(client, api_tokens.writer_a, scenario.b.incomplete_visit.id)
    assert correction.status_code == 404
    # Moving its own visit to B's worker: B's worker is not found.
    moved = _correct(
        client,
        api_tokens.writer_a,
        scenario.a.incomplete_visit.id,
        motive="wrong_code",
        worker_id=scenario.b.worker.id,
    )
    assert moved.status_code == 404
    manual = _post(client, api_tokens.writer_a, "/api/v1/visits", _manual(scenario.b))
    assert manual.status_code == 404
    session.expire_all()
    b_visit = session.get_one(Visit, scenario.b.incomplete_visit.id)
    assert b_visit.version == 1 and b_visit.status is VisitStatus.INCOMPLETE
    assert session.get_one(Visit, scenario.a.incomplete_visit.id).version == 1


# --- writes ----------------------------------------------------------------


def test_a_correction_makes_a_version_with_the_token_as_author(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario, session: Session
) -> None:
    visit = scenario.a.incomplete_visit
    response = _post(
        client,
        api_tokens.writer_a,
        f"/api/v1/visits/{visit.id}/corrections",
        {"started_at": START, "ended_at": END, "motive": "worker_forgot", "comment": "oubli"},
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "corrected" and body["version"] == 2
    assert body["started_at"] == "2026-11-20T08:00:00+00:00"
    assert body["recorded_minutes"] == 90
    latest = body["versions"][-1]
    assert latest["author"].startswith("api:Planning NORD#")
    assert latest["motive"] == "worker_forgot" and latest["comment"] == "oubli"
    assert [c["id"] for c in body["calls"]] == [visit.departure_event_id]
    version = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "visit.version", AuditEntry.actor == latest["author"]
        )
    ).one()
    assert version.object_id == str(visit.id) and version.details["motive"] == "worker_forgot"
    assert _calls(session) == 1


def test_a_manual_visit_is_entered_under_the_ledgers_rules(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario
) -> None:
    body = {**_manual(scenario.a), "motive": "phone_out_of_order"}
    created = _post(client, api_tokens.writer_a, "/api/v1/visits", body)
    assert created.status_code == 201, created.json
    assert (
        created.json["status"] == "manual" and created.json["antenna_id"] == scenario.a.antenna.id
    )
    future = {
        **body,
        "started_at": "2030-01-01T09:00:00+01:00",
        "ended_at": "2030-01-01T10:00:00+01:00",
    }
    refused = _post(client, api_tokens.writer_a, "/api/v1/visits", future)
    assert refused.status_code == 422
    assert refused.json == {
        "code": "rule_refused",
        "message": "Une intervention ne peut pas commencer dans le futur.",
    }
    missing = _post(client, api_tokens.writer_a, "/api/v1/visits", {**body, "motive": None})
    assert missing.status_code == 422 and missing.json["code"] == "invalid_parameters"
    naive = _post(
        client, api_tokens.writer_a, "/api/v1/visits", {**body, "started_at": "2026-11-20T09:00:00"}
    )
    assert naive.status_code == 422


def test_a_closed_month_refuses_a_correction_with_409(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario, session: Session
) -> None:
    session.add(
        MonthClosure(
            year=2026, month=11, closed=True, revision=1, closed_at=NOW, closed_by="referent"
        )
    )
    session.commit()
    visit = scenario.a.incomplete_visit
    response = _correct(client, api_tokens.writer_a, visit.id)
    assert response.status_code == 409
    assert response.json["code"] == "month_closed"
    assert "clôturé" in response.json["message"]
    manual = _post(client, api_tokens.writer_a, "/api/v1/visits", _manual(scenario.a))
    assert manual.status_code == 409 and manual.json["code"] == "month_closed"
    session.expire_all()
    assert session.get_one(Visit, visit.id).version == 1


def test_a_deleted_visit_cannot_be_corrected(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario
) -> None:
    url = f"/api/v1/visits/{scenario.a.incomplete_visit.id}/corrections"
    deleted = _post(client, api_tokens.writer_a, url, {"motive": "duplicate_call", "delete": True})
    assert deleted.status_code == 200 and deleted.json["status"] == "deleted"
    again = _post(client, api_tokens.writer_a, url, {"motive": "duplicate_call", "delete": True})
    assert again.status_code == 409 and again.json["code"] == "visit_deleted"


# --- rate limit and audit --------------------------------------------------


def test_the_rate_limit_answers_429_with_retry_after(
    session_factory: Any, data_dir: Any, scenario: Scenario, session: Session
) -> None:
    app: Flask = make_app(session_factory, data_dir, api_calls_per_minute=3)
    secret = issue(session, "Pressé", write=False, antenna_id=None)
    other = issue(session, "Patient", write=False, antenna_id=None)
    with app.test_client() as client:
        statuses = [_get(client, secret, "/api/v1/workers").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        refused = _get(client, secret, "/api/v1/workers")
        assert refused.json["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Per token: another client system is not slowed down.
        assert _get(client, other, "/api/v1/workers").status_code == 200
    # The window is one minute: a minute later the token calls again.
    later = make_app(
        session_factory, data_dir, clock=lambda: NOW + timedelta(minutes=1), api_calls_per_minute=3
    )
    with later.test_client() as client:
        assert _get(client, secret, "/api/v1/workers").status_code == 200


def test_every_call_of_a_token_is_journalled(
    client: FlaskClient, api_tokens: Tokens, scenario: Scenario, session: Session
) -> None:
    _get(client, api_tokens.writer_a, "/api/v1/workers?limit=1")
    _get(client, api_tokens.writer_a, f"/api/v1/visits/{scenario.b.complete_visit.id}")
    _get(client, api_tokens.writer_a, "/api/v1/visits?limit=abc")
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "api.call").order_by(AuditEntry.id)
    ).all()
    assert [(e.details["method"], e.details["path"], e.details["status"]) for e in entries] == [
        ("GET", "/api/v1/workers", 200),
        ("GET", f"/api/v1/visits/{scenario.b.complete_visit.id}", 404),
        ("GET", "/api/v1/visits", 422),
    ]
    assert entries[0].details["query"] == "limit=1"
    # Journalled under the token's antenna: A's journal shows its token's calls.
    assert {e.antenna_id for e in entries} == {scenario.a.antenna.id}
    token = session.scalars(select(ApiToken).where(ApiToken.name == "Planning NORD")).one()
    assert token.last_used_at is not None


# --- pagination and malformed input ----------------------------------------


def test_pages_follow_the_cursor_to_the_end(client: FlaskClient, api_tokens: Tokens) -> None:
    seen: list[int] = []
    url = "/api/v1/call-events?limit=1"
    while True:
        page = _get(client, api_tokens.central, url).json
        seen += [item["id"] for item in page["items"]]
        if page["next_after"] is None:
            break
        url = f"/api/v1/call-events?limit=1&after={page['next_after']}"
    everything = _get(client, api_tokens.central, "/api/v1/call-events?limit=200").json
    assert seen == [item["id"] for item in everything["items"]] and len(seen) == 8
    assert _get(client, api_tokens.central, "/api/v1/visits?limit=201").status_code == 422


BAD = (
    "9" * 25,
    "2147483648",
    "²",
    "١٢٣٤",
    "-1",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "0000-00",
    "\x00",
    "x" * 300,
)
QUERY = (
    "limit",
    "after",
    "from",
    "to",
    "antenna_id",
    "worker_id",
    "beneficiary_id",
    "status",
    "external_id",
)
GETS = (
    "/api/v1/visits",
    "/api/v1/beneficiaries",
    "/api/v1/workers",
    "/api/v1/call-events",
    "/api/v1/statistics",
)
ONES = ("visits", "beneficiaries", "workers", "call-events")


def test_no_malformed_value_gets_a_500(
    limitless_app: Flask, api_tokens: Tokens, scenario: Scenario
) -> None:
    client = limitless_app.test_client()
    checked = 0
    for path in GETS:
        for name in QUERY:
            for value in BAD:
                response = _get(client, api_tokens.central, path, query_string={name: value})
                assert response.status_code in (200, 422), (path, name, value, response.json)
                checked += 1
    for kind in ONES:
        for value in BAD:
            response = _get(client, api_tokens.central, f"/api/v1/{kind}/{quote(value, safe='')}")
            assert response.status_code == 404 and response.is_json, (kind, value)
            checked += 1
    url = f"/api/v1/visits/{scenario.a.incomplete_visit.id}/corrections"
    for field in (
        "started_at",
        "ended_at",
        "worker_id",
        "beneficiary_id",
        "motive",
        "delete",
        "comment",
    ):
        for value in (
            *BAD,
            "9999-12-31T23:59:00+14:00",
            "0001-01-01T00:00:00-12:00",
            10**30,
            [],
            {},
        ):
            body = {**FIX, field: value}
            response = _post(client, api_tokens.central, url, body)
            assert response.status_code < 500, (field, value, response.json)
            checked += 1
    for raw in (b"{", b"null", b"[]", b"\xff\xfe"):
        response = client.post(
            url,
            headers={**bearer(api_tokens.central), "Content-Type": "application/json"},
            data=raw,
        )
        assert response.status_code in (400, 422), raw
    assert checked > 600


def test_statistics_refuse_a_wrong_period_in_french(
    client: FlaskClient, api_tokens: Tokens
) -> None:
    for query in (
        "from=2026-11&to=2026-01",
        "from=2020-01&to=2026-11",
        "from=1999-12",
        "to=2026-13",
        "from=0000-01",
        "to=2100-01",
    ):
        response = _get(client, api_tokens.central, f"/api/v1/statistics?{query}")
        assert response.status_code == 422, query
        assert response.json["code"] == "invalid_parameters"


def test_the_document_is_served_without_a_token(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document["info"]["title"] == "Télégestion"
    assert "Authorization: Bearer" in document["info"]["description"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_no_answer_to_a_token_of_a_names_anyone_of_b(
    limitless_app: Flask, api_tokens: Tokens, scenario: Scenario
) -> None:
    client = limitless_app.test_client()
    a, b = scenario.a, scenario.b
    urls = [
        *GETS,
        f"/api/v1/visits/{a.complete_visit.id}",
        f"/api/v1/visits/{a.incomplete_visit.id}",
        f"/api/v1/beneficiaries/{a.beneficiary.id}",
        f"/api/v1/workers/{a.worker.id}",
        f"/api/v1/call-events/{a.unknown_call.id}",
        f"/api/v1/visits?beneficiary_id={b.beneficiary.id}",
        f"/api/v1/beneficiaries?external_id={b.beneficiary.external_id}",
        f"/api/v1/workers?external_id={b.worker.external_id}",
    ]
    b_names = [b.beneficiary.last_name, b.new_beneficiary.last_name, b.worker.last_name]
    b_names += [b.beneficiary.external_id, b.worker.external_id, b.antenna.name]
    for url in urls:
        response = _get(client, api_tokens.writer_a, url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        for name in b_names:
            assert not re.search(rf"\b{re.escape(name)}\b", text), (url, name)
        # The same answers to the central token do name B (the check can fail).
    central = _get(client, api_tokens.central, "/api/v1/beneficiaries").get_data(as_text=True)
    assert b.beneficiary.last_name in central and b.beneficiary.external_id in central
