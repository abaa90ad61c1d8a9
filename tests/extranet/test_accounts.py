"""Accounts managed in the extranet: an administrator creates, changes, deactivates,
reactivates and resets; everyone changes their own password; every change of
rights ends the account's sessions at once; everything is audited."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from extranet.models import Role, User
from extranet.passwords import PasswordPolicyError, check_policy, verify
from ledger.models import AuditEntry
from tests.extranet.conftest import PASSWORD, Scenario, csrf_token, login, make_app

ISSUED = re.compile(r'id="mot-de-passe-provisoire">([^<]+)<')


def _user(session: Session, login_: str) -> User:
    session.expire_all()
    return session.scalars(select(User).where(User.login == login_)).one()


def _actions(session: Session, actor: str) -> list[str]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == actor).order_by(AuditEntry.id)
        )
    )


def _post(client: FlaskClient, path: str, page: str, **data: str) -> tuple[int, str]:
    token = csrf_token(client, page)
    answer = client.post(path, data={"csrf_token": token, **data})
    return answer.status_code, answer.get_data(as_text=True)


@pytest.fixture
def admin(client: FlaskClient, scenario: Scenario) -> FlaskClient:
    assert login(client, "admin") == 302
    return client


@pytest.fixture
def other(session_factory: sessionmaker[Session], data_dir: Path) -> FlaskClient:
    """A second browser, for the account being changed (on an app of its own: the
    ``client`` fixture keeps its request context, hence its ``g``, between requests)."""
    return make_app(session_factory, data_dir).test_client()


def _create(admin: FlaskClient, scenario: Scenario, login_: str = "marie") -> str:
    status, page = _post(
        admin,
        "/administration/utilisateurs/nouveau",
        "/administration/utilisateurs/nouveau",
        login=login_,
        name="Marie Curie",
        role="antenna_manager",
        antenna=str(scenario.a.antenna.id),
    )
    assert status == 200, page
    found = ISSUED.search(page)
    assert found, page
    return found.group(1)


def _change_password(client: FlaskClient, current: str, new: str) -> tuple[int, str]:
    return _post(
        client,
        "/mon-compte/mot-de-passe",
        "/mon-compte/mot-de-passe",
        current=current,
        new=new,
        confirm=new,
    )


def test_a_new_account_must_change_its_temporary_password_first(
    admin: FlaskClient, other: FlaskClient, scenario: Scenario, session: Session
) -> None:
    temporary = _create(admin, scenario)
    marie = _user(session, "marie")
    assert marie.must_change_password and marie.antenna_id == scenario.a.antenna.id
    check_policy(temporary)  # what we hand out passes our own policy
    assert login(other, "marie", temporary) == 302
    assert other.get("/alertes").headers["Location"] == "/mon-compte/mot-de-passe"
    status, page = _change_password(other, temporary, "motdepasse2026!")
    assert status == 422 and "trop courant" in page
    status, _ = _change_password(other, temporary, "une longue phrase secrète")
    assert status == 302
    assert other.get("/alertes").status_code == 200
    assert not _user(session, "marie").must_change_password
    assert "user.created" in _actions(session, "admin")
    assert "user.password_changed" in _actions(session, "marie")


def test_a_role_or_antenna_change_ends_the_accounts_sessions(
    admin: FlaskClient, other: FlaskClient, scenario: Scenario, session: Session
) -> None:
    resp_b = _user(session, "resp-b")
    assert login(other, "resp-b") == 302
    assert other.get("/alertes").status_code == 200
    page = f"/administration/utilisateurs/{resp_b.id}"
    status, _ = _post(
        admin,
        page,
        page,
        name="Nouveau nom",
        role="antenna_manager",
        antenna=str(resp_b.antenna_id),
    )
    assert status == 302
    assert other.get("/alertes").status_code == 200  # a new name changes no right
    status, _ = _post(
        admin,
        page,
        page,
        name="Nouveau nom",
        role="antenna_manager",
        antenna=str(scenario.a.antenna.id),
    )
    assert status == 302
    assert other.get("/alertes").status_code == 302  # moved to antenna A: logged out
    changed = _user(session, "resp-b")
    assert changed.antenna_id == scenario.a.antenna.id and changed.name == "Nouveau nom"
    assert login(other, "resp-b") == 302
    status, _ = _post(admin, page, page, name="Nouveau nom", role="central_referent", antenna="0")
    assert status == 302
    assert other.get("/alertes").status_code == 302
    promoted = _user(session, "resp-b")
    assert promoted.role is Role.CENTRAL_REFERENT and promoted.antenna_id is None
    assert _actions(session, "admin").count("user.updated") == 3


def test_deactivation_ends_sessions_and_refuses_logins_until_reactivated(
    admin: FlaskClient, other: FlaskClient, scenario: Scenario, session: Session
) -> None:
    resp_b = _user(session, "resp-b")
    page = f"/administration/utilisateurs/{resp_b.id}"
    assert login(other, "resp-b") == 302
    assert _post(admin, f"{page}/desactiver", page)[0] == 302
    assert other.get("/alertes").status_code == 302
    assert login(other, "resp-b") == 401
    assert _post(admin, f"{page}/reactiver", page)[0] == 302
    assert login(other, "resp-b") == 302
    assert _actions(session, "admin")[-2:] == ["user.deactivated", "user.reactivated"]


def test_a_reset_gives_a_temporary_password_and_lifts_the_lockout(
    admin: FlaskClient,
    other: FlaskClient,
    scenario: Scenario,
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
) -> None:
    resp_b = _user(session, "resp-b")
    assert login(other, "resp-b") == 302
    attacker = make_app(session_factory, data_dir).test_client()
    for _ in range(10):
        login(attacker, "resp-b", "wrong password")
    assert "Bloqué jusqu" in admin.get("/administration/utilisateurs").get_data(as_text=True)
    page = f"/administration/utilisateurs/{resp_b.id}"
    status, issued = _post(admin, f"{page}/mot-de-passe", page)
    assert status == 200
    temporary = ISSUED.search(issued)
    assert temporary
    assert other.get("/alertes").status_code == 302  # old sessions: ended
    assert login(other, "resp-b", PASSWORD) == 401  # old password: gone
    assert login(other, "resp-b", temporary.group(1)) == 302  # and no lock left
    assert _user(session, "resp-b").must_change_password
    assert "user.password_reset" in _actions(session, "admin")


def test_an_administrator_lifts_a_lockout_without_touching_the_password(
    admin: FlaskClient, other: FlaskClient, scenario: Scenario, session: Session
) -> None:
    for _ in range(10):
        login(other, "resp-b", "wrong password")
    assert login(other, "resp-b") == 401
    status, _ = _post(
        admin,
        "/administration/connexions/debloquer",
        "/administration/utilisateurs",
        scope="login",
        key="resp-b",
    )
    assert status == 302
    assert login(other, "resp-b") == 302
    assert "login.unlocked" in _actions(session, "admin")


def test_an_administrator_cannot_lock_themselves_out(
    admin: FlaskClient, scenario: Scenario, session: Session
) -> None:
    me = _user(session, "admin")
    page = f"/administration/utilisateurs/{me.id}"
    _post(admin, f"{page}/desactiver", page)
    status, text = _post(admin, page, page, name="Admin", role="central_referent", antenna="0")
    assert status == 422 and "propre compte" in text
    me = _user(session, "admin")
    assert me.active and me.role is Role.ADMIN


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"login": "resp-a", "role": "admin", "antenna": "0"}, "existe déjà"),
        ({"login": "Marie Curie", "role": "admin", "antenna": "0"}, "lettres minuscules"),
        ({"login": "marie", "role": "antenna_manager", "antenna": "0"}, "rattaché à une antenne"),
    ],
)
def test_bad_accounts_are_refused_with_the_reason(
    admin: FlaskClient, scenario: Scenario, session: Session, data: dict[str, str], message: str
) -> None:
    path = "/administration/utilisateurs/nouveau"
    status, page = _post(admin, path, path, name="Marie", **data)
    assert status == 422 and message in page
    assert "user.created" not in _actions(session, "admin")


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(
    app: Flask, client: FlaskClient, other: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert login(client, "resp-a") == 302
    assert login(other, "resp-a") == 302
    status, page = _change_password(client, "not the password", "une autre phrase solide")
    assert status == 422 and "actuel est incorrect" in page
    assert _change_password(client, PASSWORD, "une autre phrase solide")[0] == 302
    assert client.get("/alertes").status_code == 200
    assert other.get("/alertes").status_code == 302
    assert verify(_user(session, "resp-a").password_hash, "une autre phrase solide")


@pytest.mark.parametrize(
    "password",
    ["court", "Motdepasse2026!", "azertyuiop123456", "123456789012", "aaaaaaaaaaaaaa", "x" * 201],
)
def test_the_policy_refuses_weak_passwords(password: str) -> None:
    with pytest.raises(PasswordPolicyError):
        check_policy(password)


def test_the_policy_refuses_the_login_inside_the_password() -> None:
    with pytest.raises(PasswordPolicyError, match="identifiant"):
        check_policy("marie.curie est ma phrase", login="marie.curie")
    check_policy("une phrase de passe correcte", login="marie.curie")
