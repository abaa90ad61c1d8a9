"""Demo accounts: one manager per antenna, a central referent and an administrator."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.models import Role, User
from extranet.passwords import hash_password
from kernel.settings import environ
from ledger.models import Antenna
from ledger.service import audit

PASSWORD_ENV = "TELEGESTION_DEMO_PASSWORD"  # noqa: S105 - a variable name


def create_demo_users(session: Session) -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist yet; return (login, password, role) of each.

    The password is TELEGESTION_DEMO_PASSWORD when set (the same for all),
    otherwise a random one per account: the caller prints it once, it is not
    stored anywhere in clear. The caller commits.
    """
    wanted: list[tuple[str, str, Role, int | None]] = [
        (f"resp-{a.code.lower()}", f"Responsable {a.name}", Role.ANTENNA_MANAGER, a.id)
        for a in session.scalars(select(Antenna).order_by(Antenna.code))
    ]
    wanted += [
        ("referent", "Référent central", Role.CENTRAL_REFERENT, None),
        ("admin", "Administrateur", Role.ADMIN, None),
    ]
    existing = set(session.scalars(select(User.login)))
    shared = environ().get(PASSWORD_ENV, "")
    created = []
    for login, name, role, antenna_id in wanted:
        if login in existing:
            continue
        password = shared or secrets.token_urlsafe(12)
        session.add(
            User(
                login=login,
                name=name,
                role=role,
                antenna_id=antenna_id,
                password_hash=hash_password(password),
                active=True,
            )
        )
        audit(session, "system:demo", "user.created", "user", login, role=role.value)
        created.append((login, password, role.value))
    session.flush()
    return created
