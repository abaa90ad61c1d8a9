"""Single sign-on accounts: from the provider's claims to a role, an antenna and a user row.

The rules are plain data parsed from the settings (``extranet_oidc.role_map``), so that
which directory group or claim value gives which role is decided by the customer, in one
place, and checked at start. A person that no rule matches is refused: there is no
default role. The protocol side (Authlib, LemonLDAP::NG) is in ``extranet.auth.oidc``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.auth.providers import LoginRefused
from extranet.models import Role, User
from kernel.settings import SettingsError
from ledger.models import Antenna
from ledger.service import audit

logger = logging.getLogger(__name__)

#: The audit journal's author of what the provider asked for before a user exists.
SSO_ACTOR = "sso"

UNMAPPED = (
    "Votre compte de l'organisation n'a pas accès à l'extranet de télégestion : aucun rôle "
    "ne lui est attribué. Demandez l'accès à un administrateur."
)
NO_LOGIN = (
    "Le compte de l'organisation ne transmet pas d'identifiant : la connexion est impossible. "
    "Contactez un administrateur."
)
INACTIVE = "Votre compte est désactivé dans l'extranet. Contactez un administrateur."
LOGIN_TAKEN = (
    "Un autre compte de l'extranet porte déjà l'identifiant « {login} ». "
    "Contactez un administrateur."
)
NO_ANTENNA = (
    "Votre compte de l'organisation est responsable d'antenne, mais aucune antenne connue "
    "de l'extranet ne lui est attribuée{code}. Contactez un administrateur."
)


@dataclass(frozen=True)
class RoleRule:
    """``claim:value=role[@ANTENNA]``: who holds ``value`` in ``claim`` gets ``role``.

    A claim holding a list (groups) matches when the list contains the value. Without
    ``@ANTENNA``, an antenna manager's antenna comes from ``antenna_claim``.
    """

    claim: str
    value: str
    role: Role
    antenna_code: str | None = None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        held = claims.get(self.claim)
        if isinstance(held, list | tuple):
            return self.value in {str(item) for item in held}
        return held is not None and str(held) == self.value


def parse_rules(text: str) -> tuple[RoleRule, ...]:
    """Rules separated by commas or new lines; the first that matches wins."""
    rules = []
    for raw in text.replace("\n", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        left, sep, right = entry.rpartition("=")
        claim, colon, value = left.partition(":")
        if not sep or not colon or not claim.strip() or not value.strip():
            raise SettingsError(
                f"extranet_oidc.role_map: {entry!r} is not claim:value=role[@ANTENNA]"
            )
        role_name, at, antenna = right.strip().partition("@")
        try:
            role = Role(role_name.strip())
        except ValueError:
            names = ", ".join(r.value for r in Role)
            raise SettingsError(
                f"extranet_oidc.role_map: unknown role {role_name!r} in {entry!r} ({names})"
            ) from None
        if at and role is not Role.ANTENNA_MANAGER:
            raise SettingsError(
                f"extranet_oidc.role_map: only antenna_manager takes an antenna ({entry!r})"
            )
        if at and not antenna.strip():
            raise SettingsError(f"extranet_oidc.role_map: empty antenna in {entry!r}")
        rules.append(RoleRule(claim.strip(), value.strip(), role, antenna.strip() if at else None))
    return tuple(rules)


@dataclass(frozen=True)
class Identity:
    """What the provider says about the person, taken from the ID token and userinfo."""

    subject: str
    login: str
    name: str
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class Grant:
    role: Role
    antenna_code: str | None
    #: The rule that gave the role, for the audit journal.
    rule: str


def resolve(identity: Identity, rules: Sequence[RoleRule], antenna_claim: str = "") -> Grant | None:
    """The role and antenna code the first matching rule gives, or None (refused)."""
    for rule in rules:
        if not rule.matches(identity.claims):
            continue
        code = rule.antenna_code
        if rule.role is Role.ANTENNA_MANAGER and code is None and antenna_claim:
            held = identity.claims.get(antenna_claim)
            code = str(held).strip() if isinstance(held, str | int) and str(held).strip() else None
        return Grant(rule.role, code, f"{rule.claim}:{rule.value}")
    return None


def sso_account(
    session: Session,
    identity: Identity,
    rules: Sequence[RoleRule],
    now: datetime,
    *,
    antenna_claim: str = "",
) -> User:
    """The user for this identity, created or linked on first login, kept in step after.

    Raise ``LoginRefused`` (with a French message) when the person has no role, no
    antenna, or a deactivated account. Everything is audited; the caller commits.
    """
    if not identity.login:
        _refuse(session, identity, "no_login")
        raise LoginRefused(NO_LOGIN)
    grant = resolve(identity, rules, antenna_claim)
    if grant is None:
        _refuse(session, identity, "unmapped")
        raise LoginRefused(UNMAPPED)
    antenna_id = None
    if grant.role is Role.ANTENNA_MANAGER:
        antenna = None
        if grant.antenna_code is not None:
            antenna = session.scalars(
                select(Antenna).where(Antenna.code == grant.antenna_code)
            ).first()
        if antenna is None:
            _refuse(session, identity, "no_antenna", antenna=grant.antenna_code)
            code = f" (« {grant.antenna_code} »)" if grant.antenna_code else ""
            raise LoginRefused(NO_ANTENNA.format(code=code))
        antenna_id = antenna.id

    user = session.scalars(select(User).where(User.external_subject == identity.subject)).first()
    if user is None:
        user = session.scalars(select(User).where(User.login == identity.login)).first()
        if user is not None and user.external_subject is not None:
            _refuse(session, identity, "login_taken")
            raise LoginRefused(LOGIN_TAKEN.format(login=identity.login))
        if user is not None and not user.active:
            _refuse(session, identity, "inactive", user_id=user.id)
            raise LoginRefused(INACTIVE)
        if user is None:
            user = User(
                login=identity.login,
                name=identity.name or identity.login,
                role=grant.role,
                antenna_id=antenna_id,
                password_hash=None,
                external_subject=identity.subject,
                active=True,
                failed_logins=0,
                session_epoch=0,
            )
            session.add(user)
            session.flush()
            audit(
                session,
                SSO_ACTOR,
                "user.sso_created",
                "user",
                user.id,
                antenna_id=antenna_id,
                login=user.login,
                role=grant.role.value,
                rule=grant.rule,
            )
            logger.info("SSO account %s created with role %s", user.id, grant.role.value)
        else:
            user.external_subject = identity.subject
            audit(session, SSO_ACTOR, "user.sso_linked", "user", user.id, login=user.login)
            logger.info("account %s linked to its SSO subject", user.id)
    if not user.active:
        _refuse(session, identity, "inactive", user_id=user.id)
        raise LoginRefused(INACTIVE)
    if (user.role, user.antenna_id) != (grant.role, antenna_id):
        audit(
            session,
            SSO_ACTOR,
            "user.sso_role",
            "user",
            user.id,
            antenna_id=antenna_id,
            before={"role": user.role.value, "antenna_id": user.antenna_id},
            after={"role": grant.role.value, "antenna_id": antenna_id},
            rule=grant.rule,
        )
        user.role = grant.role
        user.antenna_id = antenna_id
        # A change of role ends the sessions opened with the old one.
        user.session_epoch += 1
    if identity.name and user.name != identity.name:
        user.name = identity.name[:120]
    user.last_login_at = now
    audit(session, user.login, "login", "user", user.id, method="sso")
    return user


def _refuse(session: Session, identity: Identity, reason: str, **details: Any) -> None:
    audit(
        session,
        (identity.login or SSO_ACTOR)[:80],
        "login.refused",
        "user",
        None,
        method="sso",
        reason=reason,
        subject=identity.subject,
        **details,
    )
    logger.info("SSO login refused (%s) for subject %s", reason, identity.subject)
