"""Request plumbing shared by every module: the database session, the user, access guards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app, g, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from extranet.auth.session import session_user
from extranet.models import User
from extranet.params import int_arg as int_arg  # re-exported for the controllers
from extranet.scope import get_in_scope

F = TypeVar("F", bound=Callable[..., Any])


def db() -> Session:
    """The request's database session (one transaction per request)."""
    if "db" not in g:
        g.db = current_app.extensions["telegestion"].session_factory()
    return cast(Session, g.db)


def now() -> datetime:
    return cast(datetime, current_app.extensions["telegestion"].clock())


def current_user() -> User | None:
    if "user" not in g:
        g.user = _load_user()
    return cast(User | None, g.user)


def user() -> User:
    """The logged-in user (only inside ``login_required`` views)."""
    found = current_user()
    assert found is not None
    return found


def _load_user() -> User | None:
    return session_user(db())


def _to_login() -> Response:
    return redirect(url_for("auth.login", suivant=request.full_path.rstrip("?")))


def authenticated(view: F) -> F:
    """A view for any logged-in user, even one who must still change a temporary
    password (the password change page itself)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _to_login()
        return view(*args, **kwargs)

    return cast(F, wrapped)


def _must_change_password(found: User) -> Response | None:
    if found.must_change_password:
        return redirect(url_for("account.password"))
    return None


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        found = current_user()
        if found is None:
            return _to_login()
        return _must_change_password(found) or view(*args, **kwargs)

    return cast(F, wrapped)


def requires(permission: str) -> Callable[[F], F]:
    """A view for logged-in users holding ``permission`` (a ``User`` property); else 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            found = current_user()
            if found is None:
                return _to_login()
            if not getattr(found, permission):
                abort(403)
            return _must_change_password(found) or view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


T = TypeVar("T")


def load_or_404(model: type[T], object_id: int) -> T:
    """Load an object in the user's scope; outside it, the answer is 404 as if absent."""
    found = get_in_scope(db(), model, object_id, user())
    if found is None:
        abort(404)
    return found


def client_address() -> str:
    """The client's address: the socket's peer, or the proxy's X-Forwarded-For
    when ``extranet.trusted_proxies`` says to believe it (ProxyFix in app.py)."""
    return (request.remote_addr or "?")[:64]
