"""Sessions: one code path to open one for password and single sign-on logins,
and their end, server-side, by the account's ``session_epoch``.

The session cookie (Flask's, signed) holds the user id and the epoch it was
opened under. Every request re-reads the account (``session_user``) and
refuses a cookie whose epoch is not the account's current one. Ending the
sessions of an account is one atomic ``UPDATE ... SET session_epoch =
session_epoch + 1``: every cookie issued before, on any device, replayed or
not, then gets the login page. Logout, deactivation, a password change and a
change of role or antenna all do it.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import session, url_for
from sqlalchemy import update
from sqlalchemy.orm import Session

from extranet.models import User
from ledger.service import audit

#: What the cookie holds for the login (the SSO adds its id token).
UID, EPOCH = "uid", "epoch"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL."""
    if not target:
        return url_for("visits.today")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("visits.today")
    return target


def record_login(db: Session, user: User, now: datetime, *, method: str) -> None:
    """The login's trace on the account and in the journal (the caller commits)."""
    user.last_login_at = now
    audit(db, user.login, "login", "user", user.id, method=method)


def open_session(user: User) -> None:
    """A new session for ``user`` (never the one the login started in: no fixation)."""
    session.clear()
    session.permanent = True
    session[UID] = user.id
    session[EPOCH] = user.session_epoch


def session_user(db: Session) -> User | None:
    """The account of the current cookie, if the session is still valid."""
    user_id = session.get(UID)
    if not isinstance(user_id, int):
        return None
    found = db.get(User, user_id)
    if found is None or not found.active or session.get(EPOCH) != found.session_epoch:
        session.clear()
        return None
    return found


def end_sessions(db: Session, user: User) -> None:
    """End every session of ``user`` (in the caller's transaction)."""
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_epoch=User.session_epoch + 1)
        .execution_options(synchronize_session="fetch")
    )
    db.refresh(user, ["session_epoch"])


def keep_this_session(user: User) -> None:
    """After ``end_sessions`` on the user's own act (a password change), keep the
    browser that did it logged in under the new epoch."""
    session[EPOCH] = user.session_epoch
