"""``telegestion billing``: pre-billing, teletransmission, funders' identity, invoices, acks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from billing_export import services
from billing_export.jobs import acks_job, jobs
from billing_export.settings import load
from kernel import settings as settings_module
from kernel.jobs import RunStatus, ScheduledJob
from kernel.progress import Progress
from kernel.scheduler import run_job
from ledger.closures import closed_revision
from ledger.db import make_engine, make_session_factory
from ledger.funders import (
    EDESS_AID_TYPES,
    FunderIdentityError,
    format_service_codes,
    identity_of,
    set_identity,
)
from ledger.models import Funder
from ledger.money import MoneyRuleError


def _session_factory() -> tuple[sessionmaker[Session], Engine, Path]:
    core = settings_module.core()
    url = core.effective_database_url
    engine = make_engine(url)
    return make_session_factory(engine), engine, core.data_dir


def _run(job: ScheduledJob, by: str, **params: str) -> int:
    """Run one of our jobs through the scheduler's ``run_job``: it lands in the run journal."""
    factory, engine, data_dir = _session_factory()
    try:
        run = run_job(
            job,
            factory,
            data_dir,
            triggered_by=by,
            params={k: v for k, v in params.items() if v},
            progress=Progress(job.label, "fichier"),
        )
    finally:
        engine.dispose()
    print(f"exécution {run.id} : {run.status_label} — {run.message}")
    for key, value in run.counts.items():
        print(f"  {key}: {value}")
    for path in run.files:
        print(f"  fichier : {path}")
    return 0 if run.status in (RunStatus.SUCCESS, RunStatus.PARTIAL) else 1


def _job(name: str) -> ScheduledJob:
    return next(j for j in jobs() if j.name == name)


def _cmd_prebilling(args: argparse.Namespace) -> int:
    try:
        month = services.parse_month(args.month)
        settings = load()
    except (services.BillingError, MoneyRuleError) as exc:
        print(exc, file=sys.stderr)
        return 2
    factory, engine, data_dir = _session_factory()
    with factory() as session:
        revision = closed_revision(session, month)
        if revision is None and not args.provisional:
            engine.dispose()
            print(
                f"Mois de {month.label} non clôturé : la pré-facturation se fait sur le mois "
                "clôturé (page « Clôture mensuelle », par un référent central). Pour un "
                "pro-forma provisoire, ajoutez --provisoire.",
                file=sys.stderr,
            )
            return 2
        facts, billing = services.compute(session, month, settings)
    engine.dispose()
    default = "proforma" if revision is None else "prebilling"
    folder = Path(args.output) if args.output else services.billing_dir(data_dir) / default
    summary, detail = services.write_prebilling(
        facts, billing, folder, revision=revision or 1, prefix=default
    )
    if revision is None:
        print(f"PROVISOIRE : mois de {month.label} non clôturé, ce pro-forma peut encore changer")
    totals: dict[tuple[str, str], int] = {}
    for line in billing.lines:
        key = (line.key.funder_code or "(hors plan)", line.key.category.value)
        totals[key] = totals.get(key, 0) + line.kept_minutes
    print(f"Pré-facturation {month} : {len(billing.visits)} interventions")
    labels = {"within": "dans le plan", "beyond": "au-delà du plan", "outside": "hors plan"}
    for (code, category), minutes in sorted(totals.items()):
        print(f"  {code:<12} {labels[category]:<16} {minutes // 60:>7} h {minutes % 60:02d}")
    if billing.unbillable:
        print(f"  {len(billing.unbillable)} interventions incomplètes non facturées")
    print(f"  fichier : {summary}\n  fichier : {detail}")
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    return _run(
        _job("billing_export.monthly_delivery"),
        args.by,
        month=args.month,
        funder=args.funder or "",
        resend="oui" if args.resend else "",
    )


def _cmd_acks(args: argparse.Namespace) -> int:
    return _run(acks_job(), args.by)


def _cmd_invoices(args: argparse.Namespace) -> int:
    return _run(_job("billing_export.read_invoices"), args.by)


def _cmd_funders_list(args: argparse.Namespace) -> int:
    factory, engine, _data_dir = _session_factory()
    with factory() as session:
        rows = session.scalars(select(Funder).order_by(Funder.code)).all()
        print("code;type;identifiant_plateforme;departement;type_aide;prestations_locales;etat")
        for row in rows:
            identity = identity_of(row)
            if not identity.departement:
                continue
            state = "complet" if not identity.missing else " ; ".join(identity.missing)
            print(
                f"{row.code};{row.kind.value};{identity.platform_id};{identity.departement_code};"
                f"{identity.effective_aid_type};{format_service_codes(identity.service_codes)};"
                f"{state}"
            )
    engine.dispose()
    return 0


def _cmd_funders_set(args: argparse.Namespace) -> int:
    factory, engine, _data_dir = _session_factory()
    try:
        with factory() as session:
            funder = session.scalars(select(Funder).where(Funder.code == args.code)).first()
            if funder is None:
                print(f"financeur inconnu : {args.code}", file=sys.stderr)
                return 2
            current = identity_of(funder)
            try:
                changed = set_identity(
                    session,
                    funder,
                    author=args.by,
                    platform_id=current.platform_id
                    if args.platform_id is None
                    else args.platform_id,
                    departement_code=current.departement_code
                    if args.departement is None
                    else args.departement,
                    aid_type=current.aid_type if args.aid_type is None else args.aid_type,
                    service_codes=current.service_codes
                    if args.service_codes is None
                    else args.service_codes,
                )
            except FunderIdentityError as exc:
                print(exc, file=sys.stderr)
                return 2
            session.commit()
            identity = identity_of(funder)
    finally:
        engine.dispose()
    print(
        f"{identity.code} : {'modifié' if changed else 'inchangé'} — identifiant "
        f"{identity.platform_id or '(aucun)'}, Département {identity.departement_code or '?'}, "
        f"type d'aide {identity.effective_aid_type or '?'}, prestations "
        f"{format_service_codes(identity.service_codes) or '(aucune)'}"
    )
    if identity.missing:
        print("  non télétransmis : " + " ; ".join(identity.missing))
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    billing = commands.add_parser("billing", help="pre-billing and ESPPADOM teletransmission")
    sub = billing.add_subparsers(dest="billing_command", required=True)
    pre = sub.add_parser("prebilling", help="write the month's pre-billing CSV files")
    pre.add_argument("--month", required=True, help="AAAA-MM")
    pre.add_argument("--output", help="folder for the CSV files (default: data dir)")
    pre.add_argument(
        "--provisoire",
        dest="provisional",
        action="store_true",
        help="a month not closed yet: write a provisional pro-forma (proforma-AAAA-MM.csv)",
    )
    pre.set_defaults(needs_schema=True, handler=_cmd_prebilling)
    send = sub.add_parser(
        "send", help="send what changed in the month since its last send (journalled)"
    )
    send.add_argument("--month", required=True, help="AAAA-MM")
    send.add_argument("--funder", help="only this Département funder code (e.g. APA75)")
    send.add_argument(
        "--resend",
        action="store_true",
        help="send the whole month again, every declaration under its same id",
    )
    send.add_argument("--by", default="cli", help="who asks (shown in the run journal)")
    send.set_defaults(needs_schema=True, handler=_cmd_send)
    acks = sub.add_parser("acks", help="read acknowledgements ([billing] acks_enabled)")
    acks.add_argument("--by", default="cli", help="who asks (shown in the run journal)")
    acks.set_defaults(needs_schema=True, handler=_cmd_acks)
    inv = sub.add_parser("invoices", help="fetch the Département's final invoices (PDF)")
    inv.add_argument("--by", default="cli", help="who asks (shown in the run journal)")
    inv.set_defaults(needs_schema=True, handler=_cmd_invoices)
    funders = sub.add_parser("funders", help="the Département funders' platform identity")
    fsub = funders.add_subparsers(dest="funders_command", required=True)
    flist = fsub.add_parser("list", help="Département funders and their identity (CSV)")
    flist.set_defaults(needs_schema=True, handler=_cmd_funders_list)
    fset = fsub.add_parser("set", help="set a funder's identity (unchanged fields kept)")
    fset.add_argument("code", help="our funder code, e.g. APA75")
    fset.add_argument("--platform-id", help="identifier given by the Département's platform")
    fset.add_argument("--departement", help="Département code, e.g. 75")
    fset.add_argument(
        "--aid-type", help=f"EDESS aid type ({', '.join(EDESS_AID_TYPES)}); empty for the default"
    )
    fset.add_argument(
        "--service-codes", help='local service codes, e.g. "APA-AIDE=AD01, PCH-AIDE=PH02"'
    )
    fset.add_argument("--by", default="cli", help="who changes it (audit journal)")
    fset.set_defaults(needs_schema=True, handler=_cmd_funders_set)
