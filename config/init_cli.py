"""``telegestion init REFERENCE.toml``: install (or update) a real organisation.

Composition root: it migrates, then writes the reference file through
``config.reference`` and creates the first administrator with the
extranet's own hashing (argon2, password policy). Everything in one
transaction: a refused file or password leaves the database as it was.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlalchemy import select

from config import reference
from config.database import migrate
from extranet.models import Role, User
from extranet.passwords import PasswordPolicyError, hash_password
from kernel import settings as settings_module
from ledger.db import make_engine, make_session_factory
from ledger.service import audit

#: The first administrator's password, for unattended installs (never in the reference file).
PASSWORD_ENV = "TELEGESTION_INIT_ADMIN_PASSWORD"  # noqa: S105 - a variable name


def _password(args: argparse.Namespace) -> str:
    from_env = settings_module.environ().get(PASSWORD_ENV)
    if from_env:
        return from_env
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mot de passe du premier administrateur : ")
    if getpass.getpass("Confirmez le mot de passe : ") != first:
        raise PasswordPolicyError("Les deux saisies diffèrent.")
    return first


def _cmd_init(args: argparse.Namespace) -> int:
    try:
        ref = reference.read(args.reference)
    except reference.ReferenceError as refused:
        print(
            f"Fichier de référence refusé ({len(refused.errors)} erreur(s)), "
            "rien n'a été appliqué :",
            file=sys.stderr,
        )
        for error in refused.errors:
            print(f"  - {error}", file=sys.stderr)
        return 2
    url = settings_module.core().effective_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            applied = reference.apply(session, ref)
            admin = session.scalars(select(User).where(User.login == ref.admin_login)).first()
            if admin is None:
                try:
                    password_hash = hash_password(_password(args), login=ref.admin_login)
                except PasswordPolicyError as refused:
                    session.rollback()
                    print(
                        f"Mot de passe refusé, rien n'a été appliqué : {refused}", file=sys.stderr
                    )
                    return 2
                session.add(
                    User(
                        login=ref.admin_login,
                        name=ref.admin_name,
                        role=Role.ADMIN,
                        antenna_id=None,
                        password_hash=password_hash,
                        active=True,
                    )
                )
                audit(session, reference.ACTOR, "user.created", "user", ref.admin_login,
                      role=Role.ADMIN.value)  # fmt: skip
                applied.created.append(f"administrateur {ref.admin_login}")
            session.commit()
    finally:
        engine.dispose()
    name = ref.organisation["nom"]
    if not applied.changed:
        print(f"{name} : déjà à jour, rien n'a changé.")
        return 0
    print(f"{name} : {len(applied.created)} création(s), {len(applied.updated)} mise(s) à jour.")
    for item in applied.created:
        print(f"  + {item}")
    for item in applied.updated:
        print(f"  ~ {item}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub = commands.add_parser(
        "init", help="install or update a real organisation from its reference file (TOML)"
    )
    sub.add_argument("reference", type=Path, help="the reference file, e.g. docs/reference.toml")
    sub.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the first administrator's password from stdin (or set {PASSWORD_ENV})",
    )
    sub.set_defaults(handler=_cmd_init)
