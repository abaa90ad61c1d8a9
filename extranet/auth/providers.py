"""Login providers. A provider checks credentials and returns the ``User``;
``extranet.auth.session.open_session`` then opens the session, whatever the
provider (passwords here; an OpenID Connect provider calls the same function
after its callback).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.auth.throttle import Throttle
from extranet.models import User
from extranet.passwords import hash_password, needs_rehash, verify
from ledger.service import audit

logger = logging.getLogger(__name__)


class LoginRefused(Exception):
    """The message is safe to show (French) and never says which part was wrong."""


BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
LOCKED = (
    "Trop de tentatives de connexion : les connexions sont refusées pendant quelques minutes. "
    "Réessayez plus tard ou demandez à un administrateur de débloquer l'accès."
)


class LoginProvider(Protocol):
    def authenticate(
        self, session: Session, login: str, secret: str, address: str, now: datetime
    ) -> User:
        """The user, or raise LoginRefused. May write audit entries; the caller commits."""
        ...


@dataclass(frozen=True)
class PasswordProvider:
    throttle: Throttle

    def authenticate(
        self, session: Session, login: str, secret: str, address: str, now: datetime
    ) -> User:
        typed = login.strip()[:80]
        actor = typed or "?"
        # Counted (and committed) before the password is checked: see throttle.py.
        reservation = self.throttle.reserve(typed, address, now)
        if reservation is None:
            audit(session, actor, "login.locked", "user", None, address=address)
            raise LoginRefused(LOCKED)
        user = session.scalars(select(User).where(User.login == typed)).first()
        usable = user if user is not None and user.active else None
        # An unknown or inactive login costs the same argon2 check (timing).
        if usable is None or not verify(usable.password_hash, secret):
            audit(
                session,
                actor,
                "login.refused",
                "user",
                None if user is None else user.id,
                failed_logins=reservation.failures,
                address=address,
            )
            if self.throttle.locked_out(reservation):
                logger.warning("login locked after %s failures", reservation.failures)
                raise LoginRefused(LOCKED)
            raise LoginRefused(BAD_CREDENTIALS)
        self.throttle.succeeded(session, reservation)
        assert usable.password_hash is not None
        if needs_rehash(usable.password_hash):
            usable.password_hash = hash_password(secret, check=False)
        return usable
