from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from extranet.auth.forms import LoginForm, LogoutForm
from extranet.auth.providers import LoginRefused, PasswordProvider
from extranet.web import current_user, db, now
from ledger.service import audit


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL."""
    if not target:
        return url_for("visits.today")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("visits.today")
    return target


def login() -> ResponseReturnValue:
    if current_user() is not None:
        return redirect(url_for("visits.today"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        config = current_app.extensions["telegestion"]
        provider = PasswordProvider(config.throttle)
        session_db = db()
        try:
            user = provider.authenticate(
                session_db, form.login.data or "", form.password.data or "", now()
            )
        except LoginRefused as refused:
            session_db.commit()  # keep the failure counters and the audit entry
            error = str(refused)
            status = 401
        else:
            session_db.commit()
            session.clear()
            session.permanent = True
            session["uid"] = user.id
            session["epoch"] = user.session_epoch
            return redirect(_safe_next(request.args.get("suivant")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, error=error), status


def logout() -> Response:
    form = LogoutForm()
    user = current_user()
    if form.validate_on_submit() and user is not None:
        audit(db(), user.login, "logout", "user", user.id)
        db().commit()
    session.clear()
    return redirect(url_for("auth.login"))
