"""Password hashing (argon2id through argon2-cffi) and login throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from extranet.models import User
from ledger.timeutil import as_utc

_hasher = PasswordHasher()
#: Verified against when the login is unknown, so that timing does not tell.
_DUMMY_HASH = _hasher.hash("telegestion-dummy-password")

MIN_PASSWORD_LENGTH = 12


class PasswordPolicyError(ValueError):
    """The message is safe to show (French)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
        )
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    lockout: timedelta

    def is_locked(self, user: User, now: datetime) -> bool:
        return user.locked_until is not None and as_utc(user.locked_until) > now

    def record_failure(self, user: User, now: datetime) -> None:
        user.failed_logins += 1
        user.last_failed_at = now
        if user.failed_logins >= self.max_failures:
            user.locked_until = now + self.lockout

    def record_success(self, user: User, now: datetime) -> None:
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
