"""Single sign-on: the claims mapping, accounts created or linked, local accounts switched off,
and the whole journey through a real LemonLDAP::NG (``sso/provision``) in Debian's Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from extranet.app import AppConfig, create_app
from extranet.auth import oidc
from extranet.auth.providers import BAD_CREDENTIALS, LoginRefused
from extranet.auth.sso import (
    INACTIVE,
    UNMAPPED,
    Identity,
    RoleRule,
    parse_rules,
    resolve,
    sso_account,
)
from extranet.models import Role, User
from extranet.settings import ExtranetSettings
from kernel.settings import SettingsError
from ledger.models import AuditEntry
from tests.extranet.conftest import NOW, PASSWORD, SECRET, Scenario, add_user, csrf_token, login
from tests.factories import SmallOrg

REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "sso" / "provision"
SSO_STATE = Path(os.environ.get("TELEGESTION_SSO_DIR", REPO / "var" / "sso"))
#: The extranet's port in the journeys: registered at the provider as the redirect URI's.
EXTRANET_PORT = int(os.environ.get("TELEGESTION_TEST_SSO_EXTRANET_PORT", "18765"))
CLIENT_ID = "telegestion-extranet"
#: The provider's demo directory (sso/provision): dwho is in telegestion-responsables with
#: antenne=NORD, rtyler in telegestion-referents, msmith in neither.
ROLE_MAP = (
    "groups:telegestion-responsables=antenna_manager, groups:telegestion-referents=central_referent"
)

RULES = parse_rules(
    "groups:sad-siege=central_referent, groups:sad-nord=antenna_manager@NORD,"
    " groups:sad-responsables=antenna_manager, fonction:directeur=admin"
)


def identity(login: str = "marie", sub: str = "marie", **claims: object) -> Identity:
    return Identity(subject=sub, login=login, name="Marie Curie", claims=claims)


# --- the mapping, pure -----------------------------------------------------------------


def test_rules_are_parsed_in_order() -> None:
    assert (
        RoleRule("groups", "sad-siege", Role.CENTRAL_REFERENT),
        RoleRule("groups", "sad-nord", Role.ANTENNA_MANAGER, "NORD"),
        RoleRule("groups", "sad-responsables", Role.ANTENNA_MANAGER),
        RoleRule("fonction", "directeur", Role.ADMIN),
    ) == RULES
    assert parse_rules("") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("groups=admin", "claim:value=role"),
        ("groups:=admin", "claim:value=role"),
        ("groups:x=chef", "unknown role"),
        ("groups:x=admin@NORD", "only antenna_manager"),
        ("groups:x=antenna_manager@", "empty antenna"),
    ],
)
def test_bad_rules_are_refused_at_start(text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_rules(text)
    with pytest.raises(SettingsError, match=message):
        oidc.OidcSettings(issuer="https://sso.example.org", client_id="x", role_map=text)


def test_first_matching_rule_gives_role_and_antenna() -> None:
    both = identity(groups=["sad-nord", "sad-siege"])
    grant = resolve(both, RULES)
    assert grant is not None and (grant.role, grant.antenna_code) == (Role.CENTRAL_REFERENT, None)
    grant = resolve(identity(groups=["autre", "sad-nord"]), RULES)
    assert grant is not None and (grant.role, grant.antenna_code) == (Role.ANTENNA_MANAGER, "NORD")
    # A single-valued claim, compared as a string.
    grant = resolve(identity(fonction="directeur"), RULES)
    assert grant is not None and grant.role is Role.ADMIN


def test_antenna_from_a_claim_when_the_rule_names_none() -> None:
    person = identity(groups="sad-responsables", antenne="SUD")
    grant = resolve(person, RULES, antenna_claim="antenne")
    assert grant is not None and (grant.role, grant.antenna_code) == (Role.ANTENNA_MANAGER, "SUD")
    grant = resolve(identity(groups=["sad-responsables"], antenne=""), RULES, "antenne")
    assert grant is not None and grant.antenna_code is None


def test_nobody_gets_a_default_role() -> None:
    assert resolve(identity(), RULES) is None
    assert resolve(identity(groups=[]), RULES) is None
    assert resolve(identity(groups=["sad-nord-bis"], fonction="directrice"), RULES) is None
    assert resolve(identity(groups=["sad-nord"]), ()) is None


# --- accounts ---------------------------------------------------------------------------


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_first_login_creates_the_account_and_audits_it(session: Session, org: SmallOrg) -> None:
    user = sso_account(session, identity(groups=["sad-nord"]), RULES, NOW)
    session.commit()
    assert (user.login, user.role, user.antenna_id) == (
        "marie",
        Role.ANTENNA_MANAGER,
        org.antenna_a.id,
    )
    assert user.external_subject == "marie" and user.password_hash is None
    (created,) = _audit(session, "user.sso_created")
    assert created.antenna_id == org.antenna_a.id
    assert created.details["role"] == "antenna_manager"
    assert created.details["rule"] == "groups:sad-nord"
    # The second login finds the same row by subject, even if the login claim changed.
    again = sso_account(session, identity(login="marie.curie", groups=["sad-nord"]), RULES, NOW)
    assert again.id == user.id and len(_audit(session, "user.sso_created")) == 1


def test_an_existing_local_account_is_linked_by_login(session: Session, org: SmallOrg) -> None:
    local = add_user(session, "marie", Role.ANTENNA_MANAGER, org.antenna_a.id)
    epoch = local.session_epoch
    user = sso_account(session, identity(sub="s-42", groups=["sad-siege"]), RULES, NOW)
    session.commit()
    assert user.id == local.id and user.external_subject == "s-42"
    assert user.password_hash is not None  # the fallback password stays
    assert len(_audit(session, "user.sso_linked")) == 1
    # The directory is the authority: the role follows it, and old sessions end.
    assert (user.role, user.antenna_id) == (Role.CENTRAL_REFERENT, None)
    assert user.session_epoch == epoch + 1
    (change,) = _audit(session, "user.sso_role")
    assert change.details["before"] == {"role": "antenna_manager", "antenna_id": org.antenna_a.id}


def test_refusals_create_nothing_and_are_audited(session: Session, org: SmallOrg) -> None:
    with pytest.raises(LoginRefused, match="aucun rôle"):
        sso_account(session, identity(groups=["autre"]), RULES, NOW)
    with pytest.raises(LoginRefused, match="« EST »"):
        sso_account(
            session,
            identity(groups="sad-responsables", antenne="EST"),
            RULES,
            NOW,
            antenna_claim="antenne",
        )
    with pytest.raises(LoginRefused, match="aucune antenne"):
        sso_account(session, identity(groups="sad-responsables"), RULES, NOW)
    with pytest.raises(LoginRefused, match="identifiant"):
        sso_account(session, identity(login="", groups=["sad-siege"]), RULES, NOW)
    session.commit()
    assert session.scalars(select(User)).all() == []
    reasons = [e.details["reason"] for e in _audit(session, "login.refused")]
    assert reasons == ["unmapped", "no_antenna", "no_antenna", "no_login"]


def test_a_deactivated_account_stays_out(session: Session, org: SmallOrg) -> None:
    local = add_user(session, "marie", Role.CENTRAL_REFERENT)
    local.active = False
    session.commit()
    with pytest.raises(LoginRefused) as refused:
        sso_account(session, identity(groups=["sad-siege"]), RULES, NOW)
    assert str(refused.value) == INACTIVE
    assert local.external_subject is None  # not even linked


def test_a_login_held_by_another_subject_is_refused(session: Session, org: SmallOrg) -> None:
    sso_account(session, identity(sub="first", groups=["sad-siege"]), RULES, NOW)
    with pytest.raises(LoginRefused, match="porte déjà"):
        sso_account(session, identity(sub="second", groups=["sad-siege"]), RULES, NOW)


# --- settings and the app without a provider --------------------------------------------


def test_settings_come_from_the_environment_and_the_secret_only_from_there() -> None:
    assert oidc.load({}) is None
    env = {
        "TELEGESTION_EXTRANET_OIDC_ISSUER": "https://sso.example.org",
        "TELEGESTION_EXTRANET_OIDC_CLIENT_ID": "extranet",
        "TELEGESTION_EXTRANET_OIDC_ROLE_MAP": "groups:a=admin",
        "TELEGESTION_EXTRANET_OIDC_LOCAL_ACCOUNTS": "false",
    }
    with pytest.raises(SettingsError, match="CLIENT_SECRET"):
        oidc.load(env)
    sso = oidc.load({**env, oidc.CLIENT_SECRET_ENV: "s3cret"})
    assert sso is not None and sso.client_secret == "s3cret"
    assert not sso.settings.local_accounts and sso.rules == (RoleRule("groups", "a", Role.ADMIN),)
    assert "s3cret" not in repr(sso)
    with pytest.raises(SettingsError, match="http"):
        oidc.OidcSettings(issuer="sso.example.org", client_id="x")
    with pytest.raises(SettingsError, match="client_id"):
        oidc.OidcSettings(issuer="https://sso.example.org")
    with pytest.raises(SettingsError, match="only with single sign-on"):
        oidc.OidcSettings(local_accounts=False)


def sso_app(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    issuer: str,
    secret: str,
    **fields: object,
) -> Flask:
    settings = oidc.OidcSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        scopes="openid profile email telegestion",
        role_map=ROLE_MAP,
        antenna_claim="antenne",
        **fields,  # type: ignore[arg-type]
    )
    return create_app(
        AppConfig(
            session_factory=session_factory,
            data_dir=data_dir,
            secret_key=SECRET,
            settings=ExtranetSettings(),
            clock=lambda: NOW,
            sso=oidc.SsoConfig(settings, secret),
        )
    )


#: Nothing listens there: a provider that is down.
DOWN = "http://127.0.0.1:9"


@pytest.fixture
def down_client(session_factory: sessionmaker[Session], data_dir: Path) -> Iterator[FlaskClient]:
    app = sso_app(session_factory, data_dir, DOWN, "s", local_accounts=False, timeout=2)
    with app.test_client() as client:
        yield client


def test_without_sso_there_is_no_sso_route_nor_button(client: FlaskClient) -> None:
    assert client.get("/connexion/sso").status_code == 404
    assert "compte de l'organisation" not in client.get("/connexion").get_data(as_text=True)


def test_sso_routes_are_the_only_ones_added(
    app: Flask, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    with_sso = sso_app(session_factory, data_dir, DOWN, "s")
    added = {r.endpoint for r in with_sso.url_map.iter_rules()} - {
        r.endpoint for r in app.url_map.iter_rules()
    }
    assert added == {"sso.login", "sso.callback"}


def test_login_page_offers_the_organisation_account(down_client: FlaskClient) -> None:
    page = down_client.get("/connexion?suivant=/alertes").get_data(as_text=True)
    assert "Se connecter avec le compte de l'organisation" in page
    assert 'href="/connexion/sso?suivant=/alertes"' in page
    assert "réservés aux administrateurs" in page
    policy = down_client.get("/connexion").headers["Content-Security-Policy"]
    assert f"form-action 'self' {DOWN};" in policy


def test_a_provider_that_is_down_gets_a_clear_answer(down_client: FlaskClient) -> None:
    answer = down_client.get("/connexion/sso")
    assert answer.status_code == 503
    assert "ne répond pas" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?code=abc",
        "?code=abc&state=forged",
        "?error=access_denied&state=x",
        "?state=%00%ff&code=" + "9" * 30,
    ],
)
def test_a_callback_without_our_state_is_refused(down_client: FlaskClient, query: str) -> None:
    answer = down_client.get("/connexion/sso/retour" + query)
    assert answer.status_code == 400
    assert "a échoué" in answer.get_data(as_text=True)


def test_a_logged_in_user_is_not_sent_to_the_provider(
    down_client: FlaskClient, scenario: Scenario
) -> None:
    assert login(down_client, "admin") == 302
    answer = down_client.get("/connexion/sso")
    assert answer.status_code == 302 and answer.headers["Location"] == "/interventions/aujourdhui"


def test_local_accounts_off_keeps_the_administrator_only(
    down_client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    # A manager's right password gets the same answer as a wrong one.
    token = csrf_token(down_client)
    answer = down_client.post(
        "/connexion", data={"login": "resp-a", "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 401
    assert BAD_CREDENTIALS.replace("'", "&#39;") in answer.get_data(as_text=True)
    answer = down_client.post(
        "/connexion", data={"login": "nobody", "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 401
    assert login(down_client, "admin") == 302
    assert down_client.get("/administration/utilisateurs").status_code == 200
    reasons = [e.details.get("reason") for e in _audit(session, "login.refused")]
    assert reasons == ["local_accounts_off", "local_accounts_off"]


def test_logout_of_a_password_session_stays_local(
    down_client: FlaskClient, scenario: Scenario
) -> None:
    assert login(down_client, "admin") == 302
    token = csrf_token(down_client, "/beneficiaires")
    answer = down_client.post("/deconnexion", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/connexion"


# --- the real LemonLDAP::NG -------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_secret: str
    extranet_url: str


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def lemonldap() -> Iterator[Provider]:
    """Debian's LemonLDAP::NG, installed, configured and started by ``sso/provision``."""
    if os.geteuid() != 0:
        pytest.skip("sso/provision needs root (apt-get, /etc/hosts, the www-data portal)")
    extranet = f"http://127.0.0.1:{EXTRANET_PORT}"
    env = {
        **os.environ,
        "TELEGESTION_SSO_REDIRECT_URIS": f"{extranet}/connexion/sso/retour",
        "TELEGESTION_SSO_LOGOUT_URIS": f"{extranet}/connexion",
    }
    was_running = subprocess.run([str(PROVISION), "status"], capture_output=True).returncode == 0
    started = time.monotonic()
    result = subprocess.run(
        [str(PROVISION), "start"], env=env, capture_output=True, text=True, timeout=900
    )
    if result.returncode == 4:
        pytest.skip(f"LemonLDAP::NG's Debian packages cannot be installed: {result.stderr[-500:]}")
    assert result.returncode == 0, result.stderr
    print(f"sso/provision start: {time.monotonic() - started:.1f} s", file=sys.stderr)
    issuer = subprocess.run(
        [str(PROVISION), "issuer"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    secret = subprocess.run(
        [str(PROVISION), "secret"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    yield Provider(issuer, secret, extranet)
    if not was_running:
        subprocess.run([str(PROVISION), "stop"], env=env, check=False, timeout=120)


def test_the_provider_publishes_what_the_extranet_relies_on(lemonldap: Provider) -> None:
    meta = httpx.get(f"{lemonldap.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == lemonldap.issuer
    assert "S256" in meta["code_challenge_methods_supported"]
    assert meta["end_session_endpoint"].startswith(lemonldap.issuer)
    assert httpx.get(meta["jwks_uri"], timeout=10).json()["keys"]


def test_login_starts_a_code_flow_with_pkce_at_the_provider(
    lemonldap: Provider, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    app = sso_app(session_factory, data_dir, lemonldap.issuer, lemonldap.client_secret)
    with app.test_client() as client:
        answer = client.get("/connexion/sso")
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == lemonldap.issuer
    query = parse_qs(target.query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    assert query["redirect_uri"] == ["http://localhost/connexion/sso/retour"]


# --- journeys in the browser ------------------------------------------------------------

playwright_api = pytest.importorskip("playwright.sync_api")
from tests.extranet.test_browser import ARGS, ARTIFACTS, CHROMIUM  # noqa: E402


@pytest.fixture
def extranet(
    lemonldap: Provider, scenario: Scenario, database_url: str, data_dir: Path
) -> Iterator[str]:
    """The real gunicorn (``telegestion extranet serve``) on the scenario's database, with
    single sign-on configured through the environment only, as in production."""
    if not _port_is_free(EXTRANET_PORT):
        pytest.fail(f"port {EXTRANET_PORT} is taken (TELEGESTION_TEST_SSO_EXTRANET_PORT)")
    env = {
        **os.environ,
        "TELEGESTION_CORE_DATA_DIR": str(data_dir),
        "TELEGESTION_CORE_DATABASE_URL": database_url,
        "TELEGESTION_EXTRANET_SECRET_KEY": SECRET,
        "TELEGESTION_EXTRANET_WORKERS": "1",
        "TELEGESTION_EXTRANET_OIDC_ISSUER": lemonldap.issuer,
        "TELEGESTION_EXTRANET_OIDC_CLIENT_ID": CLIENT_ID,
        "TELEGESTION_EXTRANET_OIDC_CLIENT_SECRET": lemonldap.client_secret,
        "TELEGESTION_EXTRANET_OIDC_SCOPES": "openid profile email telegestion",
        "TELEGESTION_EXTRANET_OIDC_ROLE_MAP": ROLE_MAP,
        "TELEGESTION_EXTRANET_OIDC_ANTENNA_CLAIM": "antenne",
        "TELEGESTION_EXTRANET_OIDC_LOCAL_ACCOUNTS": "false",
    }
    log = open(data_dir / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "config.cli",
            "extranet",
            "serve",
            "--bind",
            f"127.0.0.1:{EXTRANET_PORT}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:
        for _ in range(300):
            assert process.poll() is None, (data_dir / "gunicorn.log").read_text()
            try:
                if httpx.get(f"{lemonldap.extranet_url}/sante", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield lemonldap.extranet_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def page(extranet: str) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.txt)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(
            base_url=extranet, locale="fr-FR", viewport={"width": 1024, "height": 768}
        )
        yield context.new_page()
        context.close()
        browser.close()


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"sso-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def portal_login(page: object, issuer: str, user: str, password: str) -> None:
    """Fill LemonLDAP::NG's own login form (we are on the portal, not the extranet)."""
    expect = playwright_api.expect
    p = page
    expect(p.locator("#userfield")).to_be_visible()  # type: ignore[attr-defined]
    assert p.url.startswith(issuer)  # type: ignore[attr-defined]
    p.locator("#userfield").fill(user)  # type: ignore[attr-defined]
    p.locator("#passwordfield").fill(password)  # type: ignore[attr-defined]
    p.locator("#lform button[type=submit]").click()  # type: ignore[attr-defined]


@pytest.mark.browser
def test_a_manager_logs_in_through_the_portal_and_lands_on_their_antenna(
    page: object, lemonldap: Provider, scenario: Scenario, session: Session
) -> None:
    expect = playwright_api.expect
    p = page
    p.goto(f"/beneficiaires/{scenario.a.beneficiary.id}")  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "01-connexion")
    p.get_by_role("link", name="Se connecter avec le compte de l'organisation").click()  # type: ignore[attr-defined]
    portal_login(p, lemonldap.issuer, "dwho", "dwho")
    # Back on the page asked for, as the manager of antenna NORD.
    expect(p.get_by_role("heading", level=1)).to_contain_text(scenario.a.beneficiary.last_name)  # type: ignore[attr-defined]
    assert p.url == f"{lemonldap.extranet_url}/beneficiaires/{scenario.a.beneficiary.id}"  # type: ignore[attr-defined]
    expect(p.locator(".who")).to_contain_text("Doctor Who — Responsable d'antenne (Antenne NORD)")  # type: ignore[attr-defined]
    shot(p, "02-beneficiaire-nord")
    p.get_by_role("link", name="Bénéficiaires").click()  # type: ignore[attr-defined]
    expect(p.get_by_text(scenario.a.beneficiary.last_name).first).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_text(scenario.b.beneficiary.last_name)).to_have_count(0)  # type: ignore[attr-defined]
    answer = p.goto(f"/beneficiaires/{scenario.b.beneficiary.id}")  # type: ignore[attr-defined]
    assert answer.status == 404
    user = session.scalars(select(User).where(User.login == "dwho")).one()
    assert (user.role, user.antenna_id, user.external_subject) == (
        Role.ANTENNA_MANAGER,
        scenario.a.antenna.id,
        "dwho",
    )
    assert user.password_hash is None
    assert len(_audit(session, "user.sso_created")) == 1


@pytest.mark.browser
def test_an_unmapped_person_is_refused_and_can_leave_the_sso(
    page: object, lemonldap: Provider, scenario: Scenario, session: Session
) -> None:
    expect = playwright_api.expect
    p = page
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_role("link", name="Se connecter avec le compte de l'organisation").click()  # type: ignore[attr-defined]
    portal_login(p, lemonldap.issuer, "msmith", "msmith")
    expect(p.get_by_role("heading", name="Connexion refusée")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_role("alert")).to_have_text(UNMAPPED)  # type: ignore[attr-defined]
    shot(p, "03-refus")
    assert session.scalars(select(User).where(User.login == "msmith")).first() is None
    p.get_by_role("link", name="Se déconnecter du compte de l'organisation").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    p.goto("/interventions/aujourdhui")  # type: ignore[attr-defined]
    assert p.url.endswith("/connexion?suivant=/interventions/aujourdhui")  # type: ignore[attr-defined]
    # The portal asks for a password again: someone else may log in from this browser.
    p.get_by_role("link", name="Se connecter avec le compte de l'organisation").click()  # type: ignore[attr-defined]
    portal_login(p, lemonldap.issuer, "rtyler", "rtyler")
    expect(p.locator(".who")).to_contain_text("Rose Tyler — Référent central")  # type: ignore[attr-defined]


@pytest.mark.browser
def test_logout_ends_both_sessions(page: object, lemonldap: Provider, scenario: Scenario) -> None:
    expect = playwright_api.expect
    p = page
    callbacks: list[str] = []
    p.on("request", lambda r: callbacks.append(r.url) if "/connexion/sso/retour" in r.url else None)  # type: ignore[attr-defined]
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_role("link", name="Se connecter avec le compte de l'organisation").click()  # type: ignore[attr-defined]
    portal_login(p, lemonldap.issuer, "dwho", "dwho")
    expect(p.locator(".who")).to_contain_text("Doctor Who")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Se déconnecter").click()  # type: ignore[attr-defined]
    # Through the provider's end_session_endpoint and back to the login page.
    expect(p.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    assert p.url.startswith(f"{lemonldap.extranet_url}/connexion")  # type: ignore[attr-defined]
    shot(p, "04-deconnecte")
    # The SSO session is over: the portal asks for the password again.
    p.goto(f"{lemonldap.issuer}/")  # type: ignore[attr-defined]
    expect(p.locator("#passwordfield")).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "05-portail-mot-de-passe")
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_role("link", name="Se connecter avec le compte de l'organisation").click()  # type: ignore[attr-defined]
    expect(p.locator("#passwordfield")).to_be_visible()  # type: ignore[attr-defined]
    assert p.url.startswith(lemonldap.issuer)  # type: ignore[attr-defined]
    # Replaying the old authorization response logs nobody in.
    assert len(callbacks) == 1
    answer = p.goto(callbacks[0])  # type: ignore[attr-defined]
    assert answer.status == 400
    expect(p.get_by_role("alert")).to_contain_text("a échoué")  # type: ignore[attr-defined]
