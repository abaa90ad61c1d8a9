"""``telegestion demo``: load the demo organisation (composition root: it migrates first)."""

from __future__ import annotations

import argparse
import time

from demo.organisation import DemoError, load_demo
from kernel import settings as settings_module
from ledger.db import make_engine, make_session_factory


def _cmd_demo(args: argparse.Namespace) -> int:
    core = settings_module.core()
    url = core.effective_database_url
    engine = make_engine(url)
    started = time.perf_counter()
    with make_session_factory(engine)() as session:
        try:
            summary = load_demo(
                session,
                seed=args.seed,
                workers=args.workers,
                beneficiaries=args.beneficiaries,
                days=args.days,
            )
        except DemoError as exc:
            print(f"Démo non chargée : {exc}")
            return 0 if args.if_empty else 1
        session.commit()
    engine.dispose()
    print(
        f"Organisation de démonstration chargée en {time.perf_counter() - started:.1f} s : "
        f"{summary.antennas} antennes, {summary.workers} intervenants, "
        f"{summary.beneficiaries} bénéficiaires ({summary.phones} numéros), "
        f"{summary.care_plans} plans d'aide, {summary.call_events} appels, "
        f"{summary.visits} interventions dont {summary.incomplete_visits} incomplètes, "
        f"{summary.hours:.0f} heures."
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub = commands.add_parser("demo", help="load the synthetic demo organisation")
    sub.add_argument("--seed", type=int, default=2026)
    sub.add_argument("--workers", type=int, default=330)
    sub.add_argument("--beneficiaries", type=int, default=2100)
    sub.add_argument("--days", type=int, default=30)
    sub.add_argument("--if-empty", action="store_true", help="succeed quietly when data exists")
    sub.set_defaults(needs_schema=True, handler=_cmd_demo)
