"""The composition root of the extranet: ``create_app(config)`` builds the Flask app."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from extranet import api, formatting
from extranet.api import errors as api_errors
from extranet.auth import oidc
from extranet.auth.throttle import Limit, Throttle
from extranet.params import IdConverter
from extranet.settings import ExtranetSettings
from extranet.web import current_user
from ledger.closing import DEFAULT_CUTOFF, Cutoff
from ledger.money import Rounding
from ledger.timeutil import utc_now

logger = logging.getLogger(__name__)

#: Feature modules, each ``extranet.<name>.blueprint.bp``; order is the navigation's.
MODULES = (
    "auth",
    "account",
    "visits",
    "calls",
    "planning",
    "alerts",
    "people",
    "stats",
    "runs",
    "audit",
    "statements",
    "invoices",
    "closing",
    "admin",
    "status",
)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

csrf = CSRFProtect()


@dataclass(frozen=True)
class AppConfig:
    session_factory: sessionmaker[Session]
    data_dir: Path
    secret_key: str
    settings: ExtranetSettings = field(default_factory=ExtranetSettings)
    #: The current instant (tests may pin it).
    clock: Callable[[], datetime] = utc_now
    #: Single sign-on (OpenID Connect); None: password logins only.
    sso: oidc.SsoConfig | None = None
    #: When a month goes in review (``kernel.settings.closing``).
    cutoff: Cutoff = DEFAULT_CUTOFF
    #: Each funder's rounding (``kernel.settings.money``): the pro-forma's figures.
    money_rules: Mapping[str, Rounding] = field(default_factory=dict)

    @property
    def throttle(self) -> Throttle:
        lockout = timedelta(minutes=self.settings.lockout_minutes)
        return Throttle(
            self.session_factory,
            per_login=Limit(self.settings.max_failed_logins, lockout, windowed=False),
            per_address=Limit(self.settings.max_failed_logins_per_address, lockout, windowed=True),
        )


def create_app(config: AppConfig) -> Flask:
    if not config.secret_key:
        raise ValueError("the extranet needs a secret key")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME="telegestion_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.settings.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=False,  # behind a TLS proxy the Referer check adds nothing
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.extensions["telegestion"] = config
    proxies = config.settings.trusted_proxies
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    csrf.init_app(app)
    app.jinja_env.filters.update(formatting.FILTERS)
    app.jinja_env.globals["month_name"] = formatting.month_name

    # Before the blueprints: every <int:...> of their rules is bounded.
    app.url_map.converters["int"] = IdConverter
    for name in MODULES:
        module = importlib.import_module(f"extranet.{name}.blueprint")
        app.register_blueprint(module.bp)
    api.init_app(app, csrf)
    if config.sso is not None:
        oidc.init_app(app, config.sso)

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {
            "current_user": current_user(),
            "refresh_seconds": config.settings.refresh_seconds,
        }

    @app.teardown_appcontext
    def _close_db(exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            if exc is not None:
                db.rollback()
            db.close()

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> tuple[str, int]:
        logger.info("CSRF refused on %r: %s", request.path, error.description)
        return render_template("error.html", code=400, message=_CSRF_MESSAGE), 400

    for code, message in _ERRORS.items():
        app.register_error_handler(code, _error_page(code, message))

    @app.errorhandler(HTTPException)
    def _other_errors(error: HTTPException) -> Any:
        """Under /api/ every error is JSON; elsewhere werkzeug's own page, as before."""
        return api_errors.from_http_exception(error) if api_errors.is_api_request() else error

    @app.get("/sante")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


_CSRF_MESSAGE = (
    "Le formulaire a expiré ou ne vient pas de cette application. Rechargez la page et recommencez."
)

_ERRORS = {
    403: "Vous n'avez pas accès à cette page.",
    404: "Cette page n'existe pas ou ne vous est pas accessible.",
    405: "Cette action n'est pas permise ici.",
    400: "La demande n'est pas valide.",
    413: "La demande est trop volumineuse.",
}


def _error_page(code: int, message: str) -> Callable[[Exception], Any]:
    def handler(error: Exception) -> Any:
        if api_errors.is_api_request() and isinstance(error, HTTPException):
            return api_errors.from_http_exception(error)
        # Our own abort(400, description=...) carries a French reason; keep it.
        described = getattr(error, "description", None)
        if isinstance(error, HTTPException) and described != type(error).description:
            return render_template("error.html", code=code, message=described), code
        return render_template("error.html", code=code, message=message), code

    return handler
