"""OpenID Connect login against the customer's provider (LemonLDAP::NG), with Authlib.

Built only when ``extranet_oidc.issuer`` is set: ``init_app`` registers the ``sso``
blueprint (``/connexion/sso`` starts the authorization code flow with PKCE, state and
nonce; ``/connexion/sso/retour`` is the redirect URI) and the login page shows the
"Se connecter avec le compte de l'organisation" button. The ID token is checked by Authlib
(signature against the provider's JWKS, issuer, audience, nonce, expiry); the claims are
then read from the userinfo endpoint and mapped by ``extranet.auth.sso``. The session is
opened by the same code as a password login (``extranet.auth.session.open_session``);
logging out sends the browser to the provider's ``end_session_endpoint`` with the ID token
as hint, so that the SSO session ends too (RP-initiated logout).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
)
from flask import url_for as flask_url_for
from flask.typing import ResponseReturnValue
from joserfc.errors import JoseError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extranet.auth.forms import LoginForm
from extranet.auth.providers import BAD_CREDENTIALS, LoginProvider, LoginRefused
from extranet.auth.session import open_session, safe_next
from extranet.auth.sso import Identity, RoleRule, parse_rules, sso_account
from extranet.models import Role, User
from extranet.web import current_user, db, now
from kernel.settings import ENV_PREFIX, SettingsError, environ, load_section
from ledger.service import audit

logger = logging.getLogger(__name__)

CLIENT_SECRET_ENV = ENV_PREFIX + "EXTRANET_OIDC_CLIENT_SECRET"
#: Authlib's name for the provider (its state keys in the session carry it).
CLIENT_NAME = "organisation"
#: Session key holding the ID token of an SSO session, sent back as the logout hint.
ID_TOKEN_KEY = "sso_id_token"  # noqa: S105 - a session key, not a secret
NEXT_KEY = "sso_next"

FAILED = (
    "La connexion avec le compte de l'organisation a échoué. Réessayez ; si le problème "
    "persiste, contactez un administrateur."
)
UNAVAILABLE = (
    "Le service de connexion de l'organisation ne répond pas. Réessayez dans quelques minutes "
    "ou connectez-vous avec un compte local si vous en avez un."
)


@dataclass(frozen=True)
class OidcSettings:
    """Section ``[extranet_oidc]``, environment ``TELEGESTION_EXTRANET_OIDC_<FIELD>``.

    The client secret is not a field: it is read from TELEGESTION_EXTRANET_OIDC_CLIENT_SECRET.
    """

    #: The provider's issuer URL (discovery at ``<issuer>/.well-known/openid-configuration``);
    #: empty means no single sign-on.
    issuer: str = ""
    client_id: str = ""
    scopes: str = "openid profile email"
    #: Claims giving the extranet login (unique) and the person's name.
    login_claim: str = "preferred_username"
    name_claim: str = "name"
    #: Who gets which role: ``claim:value=role[@ANTENNA]`` separated by commas, first match
    #: wins, e.g. ``groups:sad-nord=antenna_manager@NORD, groups:sad-siege=central_referent``.
    #: A person that no rule matches is refused.
    role_map: str = ""
    #: Claim holding an antenna manager's antenna code, for rules without ``@ANTENNA``.
    antenna_claim: str = ""
    #: The redirect URI registered at the provider; empty means computed from the request
    #: (``<scheme>://<host>/connexion/sso/retour``).
    redirect_uri: str = ""
    #: Where the provider sends the browser after logout; empty means the login page's URL.
    post_logout_redirect_uri: str = ""
    #: False: password logins are refused to everyone but administrators (the fallback
    #: when the provider is down); everybody else uses the organisation's account.
    local_accounts: bool = True
    #: Seconds allowed for each call to the provider.
    timeout: int = 10

    def __post_init__(self) -> None:
        if self.issuer:
            _origin(self.issuer)
        if self.issuer and not self.client_id:
            raise SettingsError("extranet_oidc.client_id is required with extranet_oidc.issuer")
        if self.issuer and "openid" not in self.scopes.split():
            raise SettingsError("extranet_oidc.scopes must include openid")
        if not self.local_accounts and not self.issuer:
            raise SettingsError(
                "extranet_oidc.local_accounts can be turned off only with single sign-on "
                "(extranet_oidc.issuer)"
            )
        parse_rules(self.role_map)  # fail at start on a bad rule, not at someone's login


@dataclass(frozen=True)
class SsoConfig:
    """What the app needs to offer single sign-on (``AppConfig.sso``)."""

    settings: OidcSettings
    client_secret: str = field(repr=False)

    @property
    def rules(self) -> tuple[RoleRule, ...]:
        return parse_rules(self.settings.role_map)


def load(env: Mapping[str, str] | None = None) -> SsoConfig | None:
    """The single sign-on configuration, or None when no issuer is set."""
    env = environ() if env is None else env
    settings = load_section(OidcSettings, "extranet_oidc", env)
    if not settings.issuer:
        return None
    secret = env.get(CLIENT_SECRET_ENV, "")
    if not secret:
        raise SettingsError(f"{CLIENT_SECRET_ENV} is not set: single sign-on needs it")
    return SsoConfig(settings, secret)


bp = Blueprint("sso", __name__)


def init_app(app: Flask, sso: SsoConfig) -> None:
    """Register the provider with Authlib and the SSO routes on ``app``."""
    settings = sso.settings
    oauth = OAuth(app)
    client = oauth.register(
        CLIENT_NAME,
        client_id=settings.client_id,
        client_secret=sso.client_secret,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.scopes,
            "code_challenge_method": "S256",
            "default_timeout": settings.timeout,
        },
    )
    app.extensions["telegestion_sso"] = sso
    app.extensions["telegestion_sso_client"] = client
    app.register_blueprint(bp)

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"sso_enabled": True, "local_accounts": settings.local_accounts}

    # The logout form's answer redirects to the provider, and browsers apply form-action
    # to the redirects that follow a form: allow the provider's origin there, nowhere else.
    # (Registered before the app's own header hook, so it runs after it.)
    origin = _origin(settings.issuer)

    @app.after_request
    def _allow_provider_in_form_action(response: Response) -> Response:
        policy = response.headers.get("Content-Security-Policy")
        if policy and "form-action 'self'" in policy:
            response.headers["Content-Security-Policy"] = policy.replace(
                "form-action 'self'", f"form-action 'self' {origin}"
            )
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"extranet_oidc.issuer must be an http(s) URL, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _sso() -> SsoConfig:
    return cast(SsoConfig, current_app.extensions["telegestion_sso"])


def _client() -> Any:
    return current_app.extensions["telegestion_sso_client"]


def _refusal(message: str, status: int) -> ResponseReturnValue:
    return render_template("auth/login.html", form=LoginForm(), error=message), status


@bp.get("/connexion/sso")
def login() -> ResponseReturnValue:
    if current_user() is not None:
        return redirect(flask_url_for("visits.today"))
    settings = _sso().settings
    redirect_uri = settings.redirect_uri or flask_url_for("sso.callback", _external=True)
    try:
        response = _client().authorize_redirect(redirect_uri)
    except (requests.RequestException, OAuthError, RuntimeError, ValueError) as error:
        logger.warning("SSO provider unavailable: %s", error)
        return _refusal(UNAVAILABLE, 503)
    session[NEXT_KEY] = safe_next(request.args.get("suivant"))
    return response


@bp.get("/connexion/sso/retour")
def callback() -> ResponseReturnValue:
    sso = _sso()
    settings = sso.settings
    client = _client()
    try:
        token = client.authorize_access_token()
        id_claims = dict(token.get("userinfo") or {})
        if not id_claims.get("sub"):
            raise OAuthError(description="no ID token")
        claims: dict[str, Any] = dict(client.userinfo(token=token))
    except (OAuthError, JoseError, requests.RequestException, RuntimeError, ValueError) as error:
        # Also a refusal at the portal (error=access_denied), a replayed or forged state.
        logger.info("SSO callback refused: %r", error)
        return _refusal(FAILED, 400)
    if claims.get("sub") != id_claims["sub"]:
        logger.warning("SSO userinfo subject differs from the ID token's")
        return _refusal(FAILED, 400)
    claims = {**claims, **id_claims}
    identity = Identity(
        subject=str(id_claims["sub"]),
        login=str(claims.get(settings.login_claim) or "").strip()[:80],
        name=str(claims.get(settings.name_claim) or "").strip(),
        claims=claims,
    )
    session_db = db()
    try:
        user = sso_account(
            session_db, identity, sso.rules, now(), antenna_claim=settings.antenna_claim
        )
        session_db.commit()
    except IntegrityError:
        # The same person's first login in two tabs at once: one row won, this one retries.
        session_db.rollback()
        logger.info("SSO account creation raced for subject %s", identity.subject)
        return _refusal(FAILED, 409)
    except LoginRefused as refused:
        session_db.commit()  # keep the audit entry
        # The person is still logged in at the provider: offer to end that session too,
        # so that someone else can log in from this browser.
        return (
            render_template(
                "auth/sso_refused.html",
                error=str(refused),
                end_session_url=_end_session_url(token.get("id_token")),
            ),
            403,
        )
    target = session.get(NEXT_KEY) or flask_url_for("visits.today")
    open_session(user)
    session[ID_TOKEN_KEY] = token.get("id_token")
    return redirect(target)


def end_session_url() -> str | None:
    """Where logout sends the browser when the session came from single sign-on.

    Read it before the session is cleared. None for a password session, without SSO, or
    when the provider cannot be reached (the local session still ends).
    """
    if "telegestion_sso" not in current_app.extensions:
        return None
    return _end_session_url(session.get(ID_TOKEN_KEY))


def _end_session_url(id_token: object) -> str | None:
    if not isinstance(id_token, str) or not id_token:
        return None
    settings = _sso().settings
    back = settings.post_logout_redirect_uri or flask_url_for("auth.login", _external=True)
    try:
        return cast(
            str,
            _client().create_logout_url(post_logout_redirect_uri=back, id_token_hint=id_token)[
                "url"
            ],
        )
    except (requests.RequestException, RuntimeError, ValueError) as error:
        logger.warning("SSO logout URL unavailable, local logout only: %s", error)
        return None


@dataclass(frozen=True)
class LocalAccountsPolicy:
    """Password logins for administrators only, when ``local_accounts`` is off.

    Everyone else gets the same answer as a wrong password, after the same argon2 work:
    the refusal tells nothing about which logins exist. The login page says that local
    accounts are for administrators.
    """

    inner: LoginProvider

    def authenticate(
        self, session: Session, login: str, secret: str, address: str, now: datetime
    ) -> User:
        # Through the inner provider first, throttle included: a non-administrator's
        # login is counted, locked and answered like any other (nothing tells them apart).
        user = self.inner.authenticate(session, login, secret, address, now)
        if user.role is not Role.ADMIN:
            audit(
                session,
                login.strip()[:80] or "?",
                "login.refused",
                "user",
                None,
                reason="local_accounts_off",
            )
            raise LoginRefused(BAD_CREDENTIALS)
        return user


def password_provider(inner: LoginProvider) -> LoginProvider:
    """``inner``, restricted to administrators when local accounts are turned off."""
    sso = current_app.extensions.get("telegestion_sso")
    if isinstance(sso, SsoConfig) and not sso.settings.local_accounts:
        return LocalAccountsPolicy(inner)
    return inner
