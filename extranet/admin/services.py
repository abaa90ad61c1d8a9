"""What administrators do to accounts, in one place: each act checks its rule,
changes the account, ends its sessions when its rights change, and is audited.
The caller commits. Messages of ``AccountError`` are French and safe to show."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.auth.session import end_sessions
from extranet.auth.throttle import Throttle
from extranet.models import Role, ThrottleScope, User
from extranet.passwords import hash_password, temporary_password
from ledger.models import Antenna
from ledger.service import audit

LOGIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,79}")


class AccountError(ValueError):
    """A refused change; the message says why, in French."""


@dataclass(frozen=True)
class Issued:
    """A temporary password, shown once to the administrator, never stored in clear."""

    user: User
    password: str


def _antenna_for(session: Session, role: Role, antenna_id: int | None) -> int | None:
    if role is Role.ANTENNA_MANAGER:
        if antenna_id is None or session.get(Antenna, antenna_id) is None:
            raise AccountError("Un responsable d'antenne doit être rattaché à une antenne.")
        return antenna_id
    return None  # central roles see every antenna: no antenna is kept


def create(
    session: Session, actor: User, *, login: str, name: str, role: Role, antenna_id: int | None
) -> Issued:
    login = login.strip().lower()
    if not LOGIN_PATTERN.fullmatch(login):
        raise AccountError(
            "L'identifiant compte de 2 à 80 caractères : lettres minuscules sans accent, "
            "chiffres, point, tiret ou souligné."
        )
    if session.scalars(select(User.id).where(User.login == login)).first() is not None:
        raise AccountError(f"L'identifiant {login} existe déjà.")
    password = temporary_password()
    user = User(
        login=login,
        name=name.strip(),
        role=role,
        antenna_id=_antenna_for(session, role, antenna_id),
        password_hash=hash_password(password, check=False),  # random: the policy holds
        active=True,
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor.login,
        "user.created",
        "user",
        user.id,
        antenna_id=user.antenna_id,
        login=login,
        role=role.value,
    )
    return Issued(user, password)


def update(
    session: Session, actor: User, user: User, *, name: str, role: Role, antenna_id: int | None
) -> bool:
    """Change name, role and antenna; a change of rights ends the account's sessions.
    Returns whether the sessions were ended."""
    antenna_id = _antenna_for(session, role, antenna_id)
    if user.id == actor.id and role is not user.role:
        raise AccountError("Vous ne pouvez pas changer le rôle de votre propre compte.")
    changes: dict[str, object] = {}
    if name.strip() != user.name:
        changes["name"] = name.strip()
    if role is not user.role:
        changes["role"] = role.value
    if antenna_id != user.antenna_id:
        changes["antenna"] = antenna_id
    if not changes:
        return False
    rights_changed = "role" in changes or "antenna" in changes
    before_antenna = user.antenna_id
    user.name, user.role, user.antenna_id = name.strip(), role, antenna_id
    if rights_changed:
        end_sessions(session, user)
    audit(
        session,
        actor.login,
        "user.updated",
        "user",
        user.id,
        antenna_id=antenna_id or before_antenna,
        sessions_ended=rights_changed,
        **changes,
    )
    return rights_changed


def deactivate(session: Session, actor: User, user: User) -> None:
    if user.id == actor.id:
        raise AccountError("Vous ne pouvez pas désactiver votre propre compte.")
    if not user.active:
        raise AccountError("Ce compte est déjà désactivé.")
    user.active = False
    end_sessions(session, user)
    audit(session, actor.login, "user.deactivated", "user", user.id, antenna_id=user.antenna_id)


def reactivate(session: Session, actor: User, user: User) -> None:
    if user.active:
        raise AccountError("Ce compte est déjà actif.")
    user.active = True
    audit(session, actor.login, "user.reactivated", "user", user.id, antenna_id=user.antenna_id)


def reset_password(session: Session, actor: User, user: User, throttle: Throttle) -> Issued:
    """A temporary password to be changed at the next login; lifts the login's lock."""
    if user.id == actor.id:
        raise AccountError(
            "Changez votre propre mot de passe depuis « Mon mot de passe », pas ici."
        )
    password = temporary_password()
    user.password_hash = hash_password(password, check=False)
    user.must_change_password = True
    end_sessions(session, user)
    throttle.lift(session, ThrottleScope.LOGIN, user.login)
    audit(session, actor.login, "user.password_reset", "user", user.id, antenna_id=user.antenna_id)
    return Issued(user, password)


def lift_lock(
    session: Session, actor: User, throttle: Throttle, scope: ThrottleScope, key: str
) -> None:
    if not throttle.lift(session, scope, key):
        raise AccountError("Ce blocage n'existe plus.")
    audit(session, actor.login, "login.unlocked", "user", None, scope=scope.value, key=key)
