"""Opening a logged-in session: one code path for password and single sign-on logins."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import session, url_for

from extranet.models import User


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL."""
    if not target:
        return url_for("visits.today")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("visits.today")
    return target


def open_session(user: User) -> None:
    """A new session for ``user`` (never the one the login started in: no fixation)."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
