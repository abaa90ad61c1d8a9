"""Password hashing (argon2id through argon2-cffi) and the password policy."""

from __future__ import annotations

import re
import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
#: Verified against when the login is unknown, so that timing does not tell.
_DUMMY_HASH = _hasher.hash("telegestion-dummy-password")

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
#: Passwords (or their stems) found at the top of public breach lists, with
#: French ones; one a line, lower case.
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common-passwords.txt"
#: Digits and symbols around a stem ("Motdepasse2026!") do not make it new.
_AFFIXES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


class PasswordPolicyError(ValueError):
    """The message is safe to show (French)."""


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().casefold() for line in lines if line.strip() and not line.startswith("#")
    )


def check_policy(password: str, *, login: str = "") -> None:
    """Raise PasswordPolicyError with the reason when ``password`` may not be used.

    NIST SP 800-63B: a minimum length, no composition rules, and refusing
    passwords known to be common or derived from the account's own name.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"Le mot de passe doit compter au plus {MAX_PASSWORD_LENGTH} caractères."
        )
    folded = password.casefold()
    compact = re.sub(r"\s+", "", folded)
    stem = _AFFIXES.sub("", compact)
    common = common_passwords()
    if compact in common or stem in common or not stem or len(set(compact)) < 4:
        raise PasswordPolicyError(
            "Ce mot de passe est trop courant ou trop simple : choisissez-en un autre, "
            "par exemple une phrase de plusieurs mots."
        )
    if login and len(login) >= 3 and login.casefold() in folded:
        raise PasswordPolicyError("Le mot de passe ne doit pas contenir l'identifiant.")


def hash_password(password: str, *, login: str = "", check: bool = True) -> str:
    """The argon2id hash; the policy is checked unless ``check`` is False (rehash
    of a password already accepted)."""
    if check:
        check_policy(password, login=login)
    return _hasher.hash(password)


def temporary_password() -> str:
    """A random password an administrator hands over; it must be changed at first login."""
    words = secrets.token_urlsafe(15)
    return "-".join(words[i : i + 5] for i in range(0, 20, 5))


def verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
