from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from extranet.auth import oidc
from extranet.auth.forms import LoginForm, LogoutForm
from extranet.auth.providers import LoginRefused, PasswordProvider
from extranet.auth.session import open_session
from extranet.auth.session import safe_next as _safe_next
from extranet.web import current_user, db, now
from ledger.service import audit


def login() -> ResponseReturnValue:
    if current_user() is not None:
        return redirect(url_for("visits.today"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        config = current_app.extensions["telegestion"]
        provider = oidc.password_provider(PasswordProvider(config.throttle))
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
            open_session(user)
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
    end_session = oidc.end_session_url()  # an SSO session ends at the provider too
    session.clear()
    return redirect(end_session or url_for("auth.login"))
