"""``telegestion billing``: pre-billing, teletransmission, acknowledgements."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from billing_export import services
from billing_export.jobs import jobs
from billing_export.settings import load
from kernel import settings as settings_module
from kernel.jobs import RunStatus
from kernel.scheduler import run_job
from ledger.db import make_engine, make_session_factory
from ledger.money import MoneyRuleError


def _session_factory() -> tuple[sessionmaker[Session], Engine, Path]:
    core = settings_module.core()
    url = core.effective_database_url
    engine = make_engine(url)
    return make_session_factory(engine), engine, core.data_dir


def _run(job_name: str, by: str, **params: str) -> int:
    """Run one of our jobs through the scheduler's ``run_job``: it lands in the run journal."""
    job = next(j for j in jobs() if j.name == job_name)
    factory, engine, data_dir = _session_factory()
    try:
        run = run_job(
            job, factory, data_dir, triggered_by=by, params={k: v for k, v in params.items() if v}
        )
    finally:
        engine.dispose()
    print(f"exécution {run.id} : {run.status_label} — {run.message}")
    for key, value in run.counts.items():
        print(f"  {key}: {value}")
    for path in run.files:
        print(f"  fichier : {path}")
    return 0 if run.status in (RunStatus.SUCCESS, RunStatus.PARTIAL) else 1


def _cmd_prebilling(args: argparse.Namespace) -> int:
    try:
        year, month = services.parse_month(args.month)
        settings = load()
    except (services.BillingError, MoneyRuleError) as exc:
        print(exc, file=sys.stderr)
        return 2
    factory, engine, data_dir = _session_factory()
    with factory() as session:
        facts, billing = services.compute(session, year, month, settings)
    engine.dispose()
    folder = Path(args.output) if args.output else services.billing_dir(data_dir) / "prebilling"
    summary, detail = services.write_prebilling(facts, billing, folder)
    totals: dict[tuple[str, str], int] = {}
    for line in billing.lines:
        key = (line.key.funder_code or "(hors plan)", line.key.category.value)
        totals[key] = totals.get(key, 0) + line.kept_minutes
    print(f"Pré-facturation {year:04d}-{month:02d} : {len(billing.visits)} interventions")
    labels = {"within": "dans le plan", "beyond": "au-delà du plan", "outside": "hors plan"}
    for (code, category), minutes in sorted(totals.items()):
        print(f"  {code:<12} {labels[category]:<16} {minutes // 60:>7} h {minutes % 60:02d}")
    if billing.unbillable:
        print(f"  {len(billing.unbillable)} interventions incomplètes non facturées")
    print(f"  fichier : {summary}\n  fichier : {detail}")
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    return _run(
        "billing_export.monthly_delivery", args.by, month=args.month, funder=args.funder or ""
    )


def _cmd_acks(args: argparse.Namespace) -> int:
    return _run("billing_export.read_acks", args.by)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    billing = commands.add_parser("billing", help="pre-billing and ESPPADOM teletransmission")
    sub = billing.add_subparsers(dest="billing_command", required=True)
    pre = sub.add_parser("prebilling", help="write the month's pre-billing CSV files")
    pre.add_argument("--month", required=True, help="AAAA-MM")
    pre.add_argument("--output", help="folder for the CSV files (default: data dir)")
    pre.set_defaults(needs_schema=True, handler=_cmd_prebilling)
    send = sub.add_parser("send", help="build, validate and (re)send the month's DELIVERY files")
    send.add_argument("--month", required=True, help="AAAA-MM")
    send.add_argument("--funder", help="only this Département funder code (e.g. APA75)")
    send.add_argument("--by", default="cli", help="who asks (shown in the run journal)")
    send.set_defaults(needs_schema=True, handler=_cmd_send)
    acks = sub.add_parser("acks", help="read the Département's acknowledgements")
    acks.add_argument("--by", default="cli", help="who asks (shown in the run journal)")
    acks.set_defaults(needs_schema=True, handler=_cmd_acks)
