"""What administrators do to API tokens, in one place: create (the secret is
shown once, only its SHA-256 is kept), list, revoke; every act audited. Used
by the administration pages and the command line. The caller commits.
Messages of ``TokenError`` are French and safe to show."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from extranet.models import ApiScope, ApiToken
from ledger.models import Antenna
from ledger.service import audit

#: Every secret starts with this, so that a leaked one is recognisable (secret scanners).
SECRET_PREFIX = "tg_"  # noqa: S105 - a prefix, not a secret
NAME_MAX = 60


class TokenError(ValueError):
    """A refused act on a token; the message says why, in French."""


@dataclass(frozen=True)
class Issued:
    """A new token and its secret, shown once to the administrator, never stored in clear."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create(
    session: Session,
    actor: str,
    *,
    name: str,
    write: bool,
    antenna_id: int | None,
    now: datetime,
) -> Issued:
    name = " ".join(name.split())
    if not 1 <= len(name) <= NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise TokenError(f"Le nom du système client compte de 1 à {NAME_MAX} caractères.")
    if antenna_id is not None and session.get(Antenna, antenna_id) is None:
        raise TokenError("Cette antenne n'existe pas.")
    scopes = [ApiScope.READ] + ([ApiScope.WRITE] if write else [])
    secret = new_secret()
    token = ApiToken(
        name=name,
        token_hash=digest(secret),
        prefix=secret[:10],
        scopes=" ".join(s.value for s in scopes),
        antenna_id=antenna_id,
        created_by=actor,
        created_at=now,
        window_calls=0,
    )
    session.add(token)
    session.flush()
    audit(
        session,
        actor,
        "api_token.created",
        "api_token",
        token.id,
        antenna_id=antenna_id,
        name=name,
        scopes=token.scopes,
        prefix=token.prefix,
    )
    return Issued(token, secret)


def revoke(session: Session, actor: str, token: ApiToken, *, now: datetime) -> None:
    if token.revoked_at is not None:
        raise TokenError("Ce jeton est déjà révoqué.")
    token.revoked_at = now
    token.revoked_by = actor
    audit(
        session,
        actor,
        "api_token.revoked",
        "api_token",
        token.id,
        antenna_id=token.antenna_id,
        name=token.name,
        prefix=token.prefix,
    )
    session.flush()


def listing(session: Session) -> list[ApiToken]:
    """Every token, active ones first, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .options(joinedload(ApiToken.antenna))
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id)
        )
    )


def find(session: Session, secret: str) -> ApiToken | None:
    """The token of this secret (revoked or not), or None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(secret))).first()
