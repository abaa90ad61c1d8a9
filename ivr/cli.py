"""``telegestion ivr``: run the ARI application, check health, replay spools, place a test call."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from sqlalchemy import select

from ivr import ami
from ivr.settings import load
from kernel.settings import core


def _run(args: argparse.Namespace) -> int:
    from ivr.app import main

    return main(load())


def _session_factory():  # type: ignore[no-untyped-def]
    from ledger.db import make_engine, make_session_factory

    return make_session_factory(make_engine(core().effective_database_url))


def _health(args: argparse.Namespace) -> int:
    from ivr import health
    from ivr.services import Ledger

    settings = load()
    status = asyncio.run(health.check(settings, Ledger(_session_factory()), None))
    print(json.dumps(status))
    return 0 if all(status.values()) else 1


def _replay(args: argparse.Namespace) -> int:
    from ivr.services import Ledger, replay
    from ivr.spool import Spool

    settings = load()
    ledger = Ledger(_session_factory())
    ours = replay(ledger, Spool(settings.effective_spool_dir() / "ari.spool"), dialplan=False)
    theirs = replay(ledger, Spool(settings.dialplan_spool), dialplan=True)
    print(f"{ours + theirs} appel(s) rechargé(s)")
    return 0


def _call(args: argparse.Namespace) -> int:
    """Place a real test call through the local Asterisk and report what the ledger recorded."""
    from ledger.models import CallEvent
    from ledger.timeutil import to_paris

    settings = load()
    keys = f"{args.code}#" if args.code else ""
    if args.direction:
        keys += f"WWW{args.direction}"
    token = uuid.uuid4().hex[:12]
    # Neither id may be a prefix of the other: Asterisk's id conflict check matches prefixes.
    ivr_id, phone_id = f"test-{token}", f"phone-{token}"
    with ami.session(
        settings.ami_host, settings.ami_port, settings.ari_user, settings.ari_password()
    ) as manager:
        ami.originate_test_call(
            manager,
            caller=args.caller,
            keys=keys,
            ivr_channel_id=ivr_id,
            phone_channel_id=phone_id,
        )
    print(f"Appel {ivr_id} depuis {args.caller or 'un numéro masqué'}, code {args.code or '-'}")
    factory = _session_factory()
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        with factory() as session:
            event = session.scalars(select(CallEvent).where(CallEvent.channel_id == ivr_id)).first()
        if event is not None:
            print(
                f"Enregistré à {to_paris(event.answered_at):%H:%M:%S} : "
                f"identification={event.identification.value} résultat={event.outcome.value} "
                f"sens={event.direction.value if event.direction else '-'}"
            )
            return 0
        time.sleep(0.5)
    print("Pas d'événement dans le registre (l'appel est peut-être dans le spool).")
    return 1


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ivr = commands.add_parser("ivr", help="the IVR (Asterisk ARI application)")
    sub = ivr.add_subparsers(dest="ivr_command", required=True)
    run = sub.add_parser("run", help="run the ARI application")
    run.set_defaults(handler=_run)
    health = sub.add_parser("health", help="is Asterisk, ARI and the database reachable")
    health.set_defaults(handler=_health)
    replay = sub.add_parser("replay", help="load the spools into the ledger now")
    replay.set_defaults(handler=_replay)
    call = sub.add_parser("call", help="place a test call through the local Asterisk")
    call.add_argument("--caller", default="", help="caller number (empty: withheld)")
    call.add_argument("--code", default="", help="worker code to key")
    call.add_argument("--direction", choices=["1", "2"], help="1 arrival, 2 departure if asked")
    call.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the ledger")
    call.set_defaults(handler=_call)
