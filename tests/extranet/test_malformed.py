"""Malformed parameters on every route of the URL map, for every role: 400 or
404, never 500 (issue 15: 25-digit ids overflowed the database's integer, "²"
passed ``str.isdigit`` and failed ``int``, 9999-12-31 has no next day)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask, Request
from flask.testing import FlaskClient
from werkzeug.datastructures import ImmutableMultiDict

from tests.extranet.conftest import Scenario, csrf_token, login

ROLES = ("anonymous", "resp-a", "referent", "admin")
EXTRANET = Path(__file__).resolve().parents[2] / "extranet"

#: What an attacker sends in place of an id, a number or a date.
BAD = (
    "9" * 25,
    "2147483648",  # one past a 32-bit INTEGER
    "²",
    "١٢٣٤",  # Arabic-Indic digits: int() takes them, the database would too late
    "-1",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "0000-00",
    "9999-99",
    "\x00",
    "x" * 300,
)
#: And in a form's date-time field.
BAD_DATETIMES = ("9999-12-31T23:59", "0001-01-01T00:00", "²²²²-01-01T00:00")

#: Every query parameter the extranet reads (kept in step with the code below).
QUERY_NAMES = (
    "antenne",
    "apres",
    "au",
    "auteur",
    "avant",
    "action",
    "beneficiaire",
    "depuis",
    "du",
    "fragment",
    "jour",
    "mois",
    "numero",
    "objet",
    "page",
    "q",
    "suivant",
    "vue",
    "annee",
    "semestre",
    "semaine",
    "financeur",
    "periode",
    "intervenant",
    # The REST API's parsed arguments (extranet/api/controllers.py reads them from
    # webargs' dict; their malformed values: tests/extranet/api/test_api.py).
    "antenna_id",
    "date_from",
    "date_to",
    "external_id",
    "status",
)
#: Every form field a POST route reads.
FORM_NAMES = (
    "login",
    "password",
    "started_at",
    "ended_at",
    "motive",
    "comment",
    "delete",
    "beneficiary_id",
    "worker_id",
    "direction",
    "add_phone",
    "kind",
    "object_id",
    "current",
    "new",
    "confirm",
    "first",
    "last",
    "antenna",
    "name",
    "role",
    "scope",
    "key",
    "platform_id",
    "departement_code",
    "aid_type",
    "service_codes",
    "language",
    "write",
)
_READS = re.compile(
    r"""(?:_arg|args\.get|form\.get)\(\s*["']([a-z_]+)["']|^\s+([a-z_]+) = \w+Field\(""",
    re.M,
)


def test_the_lists_name_every_parameter_the_code_reads() -> None:
    found = set()
    for path in EXTRANET.rglob("*.py"):
        for query, field in _READS.findall(path.read_text()):
            found.add(query or field)
    assert found <= set(QUERY_NAMES) | set(FORM_NAMES), found - set(QUERY_NAMES) - set(FORM_NAMES)


def _rules(app: Flask) -> list[tuple[str, str, tuple[str, ...]]]:
    return sorted(
        (rule.endpoint, rule.rule, tuple(sorted(rule.methods or ())))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    )


def _urls(rule: str, value: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?\w+>", quote(value, safe=""), rule)


def _good_path(rule: str, scenario: Scenario) -> str:
    """The rule with real ids of antenna A (so that query values get read)."""
    ids = {
        "visit_id": scenario.a.incomplete_visit.id,
        "event_id": scenario.a.unknown_call.id,
        "beneficiary_id": scenario.a.beneficiary.id,
        "worker_id": scenario.a.worker.id,
        "run_id": scenario.run_id,
        "index": 0,
        "statement_id": scenario.a.statement_id,
        "funder_id": scenario.a.funder_id,
        "invoice_id": scenario.a.invoice_id,
    }
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule)


def _as(client: FlaskClient, role: str) -> None:
    if role != "anonymous":
        assert login(client, role) == 302


#: Names the current request read from its query or form (see ``_Recording``).
_read: set[str] = set()


class _Recording(ImmutableMultiDict):  # type: ignore[type-arg]
    """Query and form values that remember which names the code asked for: a
    value is only worth sending malformed to a route that reads it."""

    def get(self, key: str, default: object = None, type: object = None) -> object:  # type: ignore[override]
        _read.add(key)
        return super().get(key, default, type)  # type: ignore[arg-type]

    def getlist(self, key: str, type: object = None) -> list[object]:  # type: ignore[override]
        _read.add(key)
        return super().getlist(key, type)  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> object:
        _read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        _read.add(str(key))
        return super().__contains__(key)


class _RecordingRequest(Request):
    parameter_storage_class = _Recording


def _check(client: FlaskClient, method: str, url: str, **kwargs: object) -> set[str]:
    _read.clear()
    response = client.open(url, method=method, **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 500, f"{method} {url!r} {kwargs}: {response.status_code}"
    return set(_read)


@pytest.mark.parametrize("role", ROLES)
def test_no_route_answers_500_to_a_malformed_parameter(
    app: Flask, client: FlaskClient, scenario: Scenario, role: str
) -> None:
    app.request_class = _RecordingRequest
    _as(client, role)
    token = csrf_token(client, "/connexion" if role == "anonymous" else "/mon-compte/mot-de-passe")
    checked = 0
    for endpoint, rule, methods in _rules(app):
        if endpoint == "auth.logout":
            continue  # would end the session the rest of the loop needs
        good = _good_path(rule, scenario)
        for method in {"GET", "POST"} & set(methods):
            if "<" in rule:
                for value in BAD:
                    _check(client, method, _urls(rule, value), data={"csrf_token": token})
                    checked += 1
            if method == "GET":
                names = _check(client, "GET", good, query_string=dict.fromkeys(QUERY_NAMES, ""))
                for name, value in itertools.product(sorted(names - {"csrf_token"}), BAD):
                    _check(client, "GET", good, query_string={name: value})
                    checked += 1
                continue
            names = _check(client, "POST", good, data={"csrf_token": token})
            for name, value in itertools.product(sorted(names - {"csrf_token"}), BAD):
                _check(client, "POST", good, data={"csrf_token": token, name: value})
                checked += 1
            for name, value in itertools.product(
                sorted(names & {"started_at", "ended_at"}), BAD_DATETIMES
            ):
                data = {
                    "csrf_token": token,
                    "started_at": "2026-11-20T13:00",
                    "ended_at": "2026-11-20T14:00",
                    "motive": "worker_forgot",
                    "beneficiary_id": str(scenario.a.beneficiary.id),
                    "worker_id": str(scenario.a.worker.id),
                    name: value,
                }
                _check(client, "POST", good, data=data)
                checked += 1
    print(role, checked)
    assert checked > (100 if role == "anonymous" else 500)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/interventions/" + "9" * 25, 404),
        ("/interventions/%C2%B2", 404),
        ("/beneficiaires?antenne=" + "9" * 25, 400),
        ("/beneficiaires?antenne=%C2%B2", 400),
        ("/interventions/aujourdhui?jour=9999-12-31", 400),
        ("/interventions/aujourdhui?jour=2199-12-31", 200),
        ("/interventions/aujourdhui?jour=0001-01-01", 400),
        ("/journal?du=0001-01-01", 400),
        ("/journal?au=9999-12-31", 400),
        ("/appels/incomplets?depuis=9999-12-31", 400),
        ("/etats-mensuels?mois=2026-13", 400),
        ("/beneficiaires?q=%00", 400),
    ],
)
def test_each_finding_answers_its_status(
    client: FlaskClient, scenario: Scenario, url: str, status: int
) -> None:
    assert login(client, "referent") == 302
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
