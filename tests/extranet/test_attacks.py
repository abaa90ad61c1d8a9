"""The attacks of the security review (issue 15), replayed against the extranet.

The lockout race runs against a real gunicorn (two workers of four threads) on
the test database, SQLite or PostgreSQL; the others through Flask's client.
"""

from __future__ import annotations

import html
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extranet.auth.providers import BAD_CREDENTIALS, LOCKED
from ledger.models import AuditEntry
from tests.extranet.conftest import (
    NOW,
    PASSWORD,
    TOKEN,
    Scenario,
    Server,
    http_login,
    make_app,
)

LIMIT = 10  # extranet.max_failed_logins (default)


def _count(session: Session, action: str, actor: str) -> int:
    session.expire_all()
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.actor == actor)
        )
        or 0
    )


def test_parallel_wrong_passwords_do_not_pass_the_lockout(
    gunicorn: Server, scenario: Scenario, session: Session
) -> None:
    attempts = 24
    # Every thread has its form and token before any of them posts: the
    # posts then leave together, as the attacker's did.
    ready = threading.Barrier(attempts)

    def wrong(number: int) -> tuple[int, str]:
        with httpx.Client(base_url=gunicorn.url, timeout=120) as http:
            found = TOKEN.search(http.get("/connexion").text)
            assert found
            ready.wait(timeout=120)
            answer = http.post(
                "/connexion",
                data={
                    "login": "resp-a",
                    "password": f"wrong password {number}",
                    "csrf_token": found.group(1),
                },
            )
            return answer.status_code, answer.text

    with ThreadPoolExecutor(attempts) as pool:
        answers = list(pool.map(wrong, range(attempts)))

    assert [status for status, _ in answers] == [401] * attempts
    with httpx.Client(base_url=gunicorn.url, timeout=60) as http:
        right = http_login(http, "resp-a", PASSWORD)
        assert right.status_code == 401
        assert "Trop de tentatives" in right.text
        assert http.get("/interventions/aujourdhui").status_code == 302
    # Exactly LIMIT passwords were checked; every other attempt was refused unseen.
    assert _count(session, "login.refused", "resp-a") == LIMIT
    assert _count(session, "login.locked", "resp-a") == attempts - LIMIT + 1
    locked = sum("Trop de tentatives" in text for _, text in answers)
    assert locked == attempts - LIMIT + 1  # the tenth wrong one says so too


# --- lockout rules (Flask's client, a clock the test moves) --------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _post_login(client: FlaskClient, login: str, password: str, address: str) -> tuple[int, str]:
    environ = {"REMOTE_ADDR": address}
    page = client.get("/connexion", environ_base=environ)
    found = TOKEN.search(page.get_data(as_text=True))
    assert found
    answer = client.post(
        "/connexion",
        data={"login": login, "password": password, "csrf_token": found.group(1)},
        environ_base=environ,
    )
    return answer.status_code, _message(answer.get_data(as_text=True))


def _message(page: str) -> str:
    found = re.search(r'role="alert">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else ""


def test_an_unknown_login_is_answered_and_locked_like_a_known_one(
    client: FlaskClient, scenario: Scenario
) -> None:
    known = [_post_login(client, "resp-b", f"faux {n}", "127.0.0.2") for n in range(12)]
    unknown = [_post_login(client, "personne", f"faux {n}", "127.0.0.2") for n in range(12)]
    assert known == unknown
    assert known[0] == (401, BAD_CREDENTIALS)
    assert known[-1] == (401, LOCKED)


def test_one_address_is_blocked_whatever_login_it_tries(
    session_factory: sessionmaker[Session], data_dir: Path, scenario: Scenario
) -> None:
    app = make_app(session_factory, data_dir, max_failed_logins_per_address=5)
    with app.test_client() as client:
        # Password spraying: one guess on each of many logins.
        for login in ("resp-b", "referent", "admin", "x1", "x2"):
            assert _post_login(client, login, "Printemps2026!", "127.0.0.3")[0] == 401
        assert _post_login(client, "resp-a", PASSWORD, "127.0.0.3") == (401, LOCKED)
        # The logins themselves are not locked: their owners elsewhere log in.
        assert _post_login(client, "resp-a", PASSWORD, "127.0.0.4")[0] == 302


def test_the_lockout_ends_after_the_delay_and_rearms_on_the_next_failure(
    session_factory: sessionmaker[Session], data_dir: Path, scenario: Scenario
) -> None:
    clock = Clock()
    app = make_app(session_factory, data_dir, clock=clock, lockout_minutes=15)
    with app.test_client() as client:
        for n in range(LIMIT):
            _post_login(client, "resp-a", f"faux {n}", "127.0.0.5")
        clock.now = NOW + timedelta(minutes=14)
        assert _post_login(client, "resp-a", PASSWORD, "127.0.0.5") == (401, LOCKED)
        clock.now = NOW + timedelta(minutes=16)
        # One more wrong password after the delay locks it again at once...
        assert _post_login(client, "resp-a", "encore faux", "127.0.0.5") == (401, LOCKED)
        assert _post_login(client, "resp-a", PASSWORD, "127.0.0.5") == (401, LOCKED)
        # ...but the right one, first after the delay, gets in.
        clock.now = NOW + timedelta(minutes=32)
        assert _post_login(client, "resp-a", PASSWORD, "127.0.0.5")[0] == 302


def test_an_address_window_forgets_old_failures(
    session_factory: sessionmaker[Session], data_dir: Path, scenario: Scenario
) -> None:
    clock = Clock()
    app = make_app(session_factory, data_dir, clock=clock, max_failed_logins_per_address=3)
    with app.test_client() as client:
        for login in ("x1", "x2"):
            _post_login(client, login, "faux faux faux", "127.0.0.6")
        clock.now = NOW + timedelta(minutes=20)  # the window is over
        for login in ("x3", "x4"):
            assert _post_login(client, login, "faux faux faux", "127.0.0.6") == (
                401,
                BAD_CREDENTIALS,
            )
        assert _post_login(client, "resp-a", PASSWORD, "127.0.0.6")[0] == 302


# --- sessions that end ----------------------------------------------------------------


def _replay(base_url: str, cookies: dict[str, str], path: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=60, cookies=cookies) as other:
        return other.get(path)


def test_a_cookie_replayed_after_logout_gets_the_login_page(
    gunicorn: Server, scenario: Scenario
) -> None:
    with httpx.Client(base_url=gunicorn.url, timeout=60) as http:
        assert http_login(http, "resp-a", PASSWORD).status_code == 302
        stolen = dict(http.cookies)
        assert _replay(gunicorn.url, stolen, "/alertes").status_code == 200
        token = TOKEN.search(http.get("/alertes").text)
        assert token
        assert http.post("/deconnexion", data={"csrf_token": token.group(1)}).status_code == 302
    replayed = _replay(gunicorn.url, stolen, "/alertes")
    assert replayed.status_code == 302
    assert replayed.headers["location"].startswith("/connexion")
    # A new login works and the old cookie stays dead.
    with httpx.Client(base_url=gunicorn.url, timeout=60) as http:
        assert http_login(http, "resp-a", PASSWORD).status_code == 302
    assert _replay(gunicorn.url, stolen, "/alertes").status_code == 302
