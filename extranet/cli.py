"""``telegestion extranet serve|api-token`` and ``telegestion users create|list|passwd|demo``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from extranet import settings as extranet_settings
from extranet.api import tokens
from extranet.demo import create_demo_users
from extranet.models import ApiToken, LoginThrottle, Role, ThrottleScope, User
from extranet.passwords import PasswordPolicyError, hash_password
from kernel import settings as settings_module
from ledger.db import make_engine, make_session_factory
from ledger.models import Antenna
from ledger.service import audit
from ledger.timeutil import utc_now

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
ACTOR = "system:cli"


def _serve(args: argparse.Namespace) -> int:
    core = settings_module.core()
    url = core.effective_database_url
    key = extranet_settings.secret_key(core.data_dir, embedded=url.startswith("sqlite"))
    env = dict(settings_module.environ())
    env[extranet_settings.SECRET_KEY_ENV] = key
    env.setdefault("TELEGESTION_CORE_DATA_DIR", str(core.data_dir.resolve()))
    if args.bind:
        env["TELEGESTION_EXTRANET_BIND"] = args.bind
    settings = extranet_settings.load(env)
    print(f"Extranet sur http://{settings.bind}/", flush=True)
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    os.execve(sys.executable, argv, env)  # noqa: S606 - replaces this process by gunicorn


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(settings_module.core().effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Confirmez le mot de passe : ") != first:
        raise PasswordPolicyError("Les deux saisies diffèrent.")
    return first


def _create(args: argparse.Namespace) -> int:
    role = Role(args.role)
    with _session() as session:
        antenna_id = None
        if role is Role.ANTENNA_MANAGER:
            if not args.antenna:
                print("Un responsable d'antenne a besoin de --antenna CODE.", file=sys.stderr)
                return 2
            antenna = session.scalars(select(Antenna).where(Antenna.code == args.antenna)).first()
            if antenna is None:
                print(f"Antenne inconnue : {args.antenna}", file=sys.stderr)
                return 2
            antenna_id = antenna.id
        elif args.antenna:
            print("Seul un responsable d'antenne est rattaché à une antenne.", file=sys.stderr)
            return 2
        if session.scalars(select(User).where(User.login == args.login)).first():
            print(f"L'identifiant {args.login} existe déjà.", file=sys.stderr)
            return 1
        try:
            password_hash = hash_password(_read_password(args), login=args.login)
        except PasswordPolicyError as refused:
            print(str(refused), file=sys.stderr)
            return 2
        session.add(
            User(
                login=args.login,
                name=args.name,
                role=role,
                antenna_id=antenna_id,
                password_hash=password_hash,
                active=True,
            )
        )
        audit(session, ACTOR, "user.created", "user", args.login, role=role.value)
        session.commit()
    print(f"Compte {args.login} créé ({role.label}).")
    return 0


def _list(args: argparse.Namespace) -> int:
    with _session() as session:
        rows = session.execute(
            select(User, Antenna.code)
            .outerjoin(Antenna, Antenna.id == User.antenna_id)
            .order_by(User.login)
        ).all()
    for user, code in rows:
        state = "actif" if user.active else "désactivé"
        print(f"{user.login}\t{user.role.value}\t{code or '-'}\t{state}\t{user.name}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    with _session() as session:
        user = session.scalars(select(User).where(User.login == args.login)).first()
        if user is None:
            print(f"Identifiant inconnu : {args.login}", file=sys.stderr)
            return 1
        try:
            user.password_hash = hash_password(_read_password(args), login=args.login)
        except PasswordPolicyError as refused:
            print(str(refused), file=sys.stderr)
            return 2
        user.session_epoch += 1  # ends the account's open sessions
        user.must_change_password = False
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.scope == ThrottleScope.LOGIN, LoginThrottle.key == user.login
            )
        )
        audit(session, ACTOR, "user.password_changed", "user", user.id)
        session.commit()
    print(f"Mot de passe de {args.login} changé ; ses sessions ouvertes sont fermées.")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    scope = ThrottleScope.ADDRESS if args.address else ThrottleScope.LOGIN
    with _session() as session:
        result = session.execute(
            delete(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == args.key)
        )
        audit(session, ACTOR, "login.unlocked", "user", None, scope=scope.value, key=args.key)
        session.commit()
    if not getattr(result, "rowcount", 0):
        print(f"Aucun compteur d'échecs pour {args.key}.")
    else:
        print(f"Connexions de nouveau permises pour {args.key}.")
    return 0


def _demo(args: argparse.Namespace) -> int:
    with _session() as session:
        if args.if_empty and session.scalars(select(User.id).limit(1)).first() is not None:
            print("Des comptes existent déjà : aucun compte de démonstration créé.")
            return 0
        try:
            created = create_demo_users(session)
        except PasswordPolicyError as refused:
            print(f"TELEGESTION_DEMO_PASSWORD : {refused}", file=sys.stderr)
            return 2
        session.commit()
    if created:
        print("Comptes de démonstration (mots de passe affichés une seule fois) :")
    for login, password, role in created:
        print(f"  {login:<16} {password:<20} {Role(role).label}")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    with _session() as session:
        antenna_id = None
        if args.antenna:
            antenna = session.scalars(select(Antenna).where(Antenna.code == args.antenna)).first()
            if antenna is None:
                print(f"Antenne inconnue : {args.antenna}", file=sys.stderr)
                return 2
            antenna_id = antenna.id
        try:
            issued = tokens.create(
                session,
                ACTOR,
                name=args.name,
                write=args.write,
                antenna_id=antenna_id,
                now=utc_now(),
            )
        except tokens.TokenError as refused:
            print(str(refused), file=sys.stderr)
            return 2
        session.commit()
        print(f"Jeton {issued.token.id} créé ({issued.token.scopes}), affiché une seule fois :")
        print(issued.secret)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    with _session() as session:
        for token in tokens.listing(session):
            state = "révoqué" if token.revoked_at else "actif"
            code = token.antenna.code if token.antenna else "-"
            print(f"{token.id}\t{token.prefix}…\t{token.scopes}\t{code}\t{state}\t{token.name}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    with _session() as session:
        token = session.get(ApiToken, args.id)
        if token is None:
            print(f"Jeton inconnu : {args.id}", file=sys.stderr)
            return 1
        try:
            tokens.revoke(session, ACTOR, token, now=utc_now())
        except tokens.TokenError as refused:
            print(str(refused), file=sys.stderr)
            return 1
        session.commit()
    print(f"Jeton {args.id} révoqué.")
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    extranet = commands.add_parser("extranet", help="the web extranet")
    extranet_sub = extranet.add_subparsers(dest="extranet_command", required=True)
    serve = extranet_sub.add_parser("serve", help="serve the extranet with gunicorn")
    serve.add_argument("--bind", default="", help="host:port (default: extranet.bind)")
    serve.set_defaults(handler=_serve)
    token = extranet_sub.add_parser("api-token", help="REST API tokens of client systems")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    token_create = token_sub.add_parser("create", help="create a token (printed once)")
    token_create.add_argument("name", help="the client system")
    token_create.add_argument("--write", action="store_true", help="may correct and enter visits")
    token_create.add_argument("--antenna", default="", help="antenna code (default: all)")
    token_create.set_defaults(handler=_token_create)
    token_sub.add_parser("list", help="list the tokens").set_defaults(handler=_token_list)
    token_revoke = token_sub.add_parser("revoke", help="revoke a token at once")
    token_revoke.add_argument("id", type=int)
    token_revoke.set_defaults(handler=_token_revoke)

    users = commands.add_parser("users", help="extranet user accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create an account (asks for the password)")
    create.add_argument("login")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--antenna", default="", help="antenna code (antenna managers)")
    create.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    create.set_defaults(handler=_create)
    listing = users_sub.add_parser("list", help="list the accounts")
    listing.set_defaults(handler=_list)
    passwd = users_sub.add_parser("passwd", help="change a password (ends open sessions)")
    passwd.add_argument("login")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=_passwd)
    unlock = users_sub.add_parser("unlock", help="lift a login lockout (or --address)")
    unlock.add_argument("key", help="the login, or the client address with --address")
    unlock.add_argument("--address", action="store_true")
    unlock.set_defaults(handler=_unlock)
    demo = users_sub.add_parser("demo", help="create the demo accounts, print their passwords")
    demo.add_argument("--if-empty", action="store_true", help="only when no account exists")
    demo.set_defaults(handler=_demo)
