"""Login providers. Only passwords exist today; an OpenID Connect provider
(the customer's LemonLDAP::NG) would implement the same protocol, matching
``User.external_subject``, and be chosen in ``extranet.auth.controllers``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.models import User
from extranet.passwords import Throttle, hash_password, needs_rehash, verify
from ledger.service import audit

logger = logging.getLogger(__name__)


class LoginRefused(Exception):
    """The message is safe to show (French) and never says which part was wrong."""


BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
LOCKED = (
    "Trop de tentatives de connexion : ce compte est bloqué pendant quelques minutes. "
    "Réessayez plus tard ou contactez un administrateur."
)


class LoginProvider(Protocol):
    def authenticate(self, session: Session, login: str, secret: str, now: datetime) -> User:
        """The user, or raise LoginRefused. May change counters; the caller commits."""
        ...


@dataclass(frozen=True)
class PasswordProvider:
    throttle: Throttle

    def authenticate(self, session: Session, login: str, secret: str, now: datetime) -> User:
        user = session.scalars(select(User).where(User.login == login.strip())).first()
        if user is None or not user.active:
            verify(None, secret)  # same work as a real check
            audit(session, login.strip()[:80] or "?", "login.refused", "user", None)
            raise LoginRefused(BAD_CREDENTIALS)
        if self.throttle.is_locked(user, now):
            audit(session, user.login, "login.locked", "user", user.id)
            raise LoginRefused(LOCKED)
        if not verify(user.password_hash, secret):
            self.throttle.record_failure(user, now)
            audit(
                session,
                user.login,
                "login.refused",
                "user",
                user.id,
                failed_logins=user.failed_logins,
            )
            if self.throttle.is_locked(user, now):
                logger.warning("account %s locked after %s failures", user.id, user.failed_logins)
                raise LoginRefused(LOCKED)
            raise LoginRefused(BAD_CREDENTIALS)
        self.throttle.record_success(user, now)
        assert user.password_hash is not None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(secret)
        audit(session, user.login, "login", "user", user.id)
        return user
