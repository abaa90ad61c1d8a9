"""Sessions: opened for a user once a provider has authenticated them, ended
server-side by the account's ``session_epoch``.

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

from flask import session
from sqlalchemy import update
from sqlalchemy.orm import Session

from extranet.models import User
from ledger.service import audit

#: What the cookie holds (nothing else is kept in it).
UID, EPOCH, METHOD = "uid", "epoch", "via"


def open_session(db: Session, user: User, now: datetime, *, method: str) -> None:
    """Start a fresh session for ``user`` (any provider: ``method`` is
    ``"password"``, ``"oidc"``...). A new cookie is issued, so a session id
    planted before login is worthless. The caller commits."""
    user.last_login_at = now
    audit(db, user.login, "login", "user", user.id, method=method)
    db.flush()
    session.clear()
    session.permanent = True
    session[UID] = user.id
    session[EPOCH] = user.session_epoch
    session[METHOD] = method


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


def close_session() -> None:
    """Forget the cookie of this browser (after ``end_sessions``)."""
    session.clear()


def keep_this_session(user: User) -> None:
    """After ``end_sessions`` on the user's own act (a password change), keep the
    browser that did it logged in under the new epoch."""
    session[EPOCH] = user.session_epoch
