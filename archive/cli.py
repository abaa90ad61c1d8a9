"""``telegestion archive ...``: init-pki, run, verify, export, purge."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from archive import pipeline, store
from archive.export import export_archive
from archive.pki import TRIAL_LABEL, PkiError, init_pki, pki_paths
from archive.settings import load as load_settings
from archive.signing import check_signature, load_anchors, load_trust
from archive.statement import StatementError
from archive.store import StoreError
from archive.verify import default_processes, verify_archive
from kernel import settings as settings_module
from kernel.progress import Progress
from ledger.db import make_engine, make_session_factory
from ledger.timeutil import Month, to_paris


def parse_month(text: str) -> tuple[int, int]:
    try:
        month = Month.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"mois attendu au format AAAA-MM : {text!r}") from None
    return month.year, month.month


def _cmd_init_pki(args: argparse.Namespace) -> int:
    core = settings_module.core()
    paths = pki_paths(core.data_dir)
    if paths.exists() and not args.force:
        if args.if_missing:
            return 0
        print(f"La PKI d'essai existe déjà dans {paths.root} (--force pour la refaire).")
        return 1
    init_pki(core.data_dir, core.organisation_name)
    print(f"PKI d'essai créée dans {paths.root} : {TRIAL_LABEL}.")
    print("Autorité locale, cachet RSA-3072 et horodatage local : pour essai seulement.")
    return 0


def _session_factory():  # type: ignore[no-untyped-def]
    core = settings_module.core()
    return core, make_session_factory(make_engine(core.effective_database_url))


def _cmd_run(args: argparse.Namespace) -> int:
    core, factory = _session_factory()
    settings = load_settings()
    year, month = args.month
    try:
        summary = pipeline.run_month(
            factory,
            core,
            settings,
            year,
            month,
            triggered_by=args.by,
            beneficiary_ids=args.beneficiary or None,
            progress=Progress(f"États {year}-{month:02d}", "état"),
            processes=args.processes,
        )
    except (PkiError, StatementError) as exc:
        print(f"Archivage impossible : {exc}", file=sys.stderr)
        return 1
    rate = summary.signed / summary.seconds if summary.seconds else 0.0
    print(
        f"{summary.statements} état(s) pour {year}-{month:02d} : {summary.signed} signé(s) "
        f"dont {summary.new_versions} nouvelle(s) version(s), {summary.unchanged} inchangé(s), "
        f"en {summary.seconds:.1f} s ({rate:.1f} états/s)."
    )
    return 0


def _as_of(args: argparse.Namespace) -> datetime | None:
    if not args.as_of:
        return None
    return datetime.combine(args.as_of, datetime.min.time(), tzinfo=UTC)


def _cmd_verify_files(args: argparse.Namespace) -> int:
    """Statements given as files: offline, no database, only the trust anchors."""
    if not args.verbose:
        # pyHanko logs every expired certificate it meets on the way to a verdict.
        for name in ("pyhanko", "pyhanko_certvalidator"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        if args.trust:
            trust = load_anchors(args.trust)
        else:
            trust = load_trust(load_settings(), settings_module.core().data_dir)
    except PkiError as exc:
        print(f"Vérification impossible : {exc}", file=sys.stderr)
        return 2
    as_of = _as_of(args)
    moment = f" au {args.as_of.isoformat()}" if as_of else ""
    failed = 0
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"{path} : ILLISIBLE ({exc.strerror or exc})")
            failed += 1
            continue
        check = check_signature(data, trust, as_of)
        sha = hashlib.sha256(data).hexdigest()
        if check.ok:
            when = (
                f", horodaté le {to_paris(check.signed_at):%d/%m/%Y à %H:%M} (heure de Paris)"
                if check.signed_at
                else ""
            )
            print(f"{path} : VALIDE{moment} — cachet et horodatages vérifiés{when} ; SHA-256 {sha}")
        else:
            print(f"{path} : INVALIDE{moment} — {check.problem} ; SHA-256 {sha}")
            failed += 1
    return 1 if failed else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.files:
        return _cmd_verify_files(args)
    core, factory = _session_factory()
    settings = load_settings()
    as_of = _as_of(args)
    started = time.perf_counter()
    with factory() as session:
        try:
            report = verify_archive(
                session,
                settings,
                core.data_dir,
                as_of=as_of,
                processes=args.processes or default_processes(),
                progress=Progress("Vérification", "état"),
            )
        except PkiError as exc:
            print(f"Vérification impossible : {exc}", file=sys.stderr)
            return 2
    for fault in report.faults:
        print(fault)
    seconds = time.perf_counter() - started
    if report.ok:
        print(
            f"Archive intègre : {report.statements} état(s), {report.journal_entries} "
            f"entrée(s) de journal vérifiés en {seconds:.1f} s."
        )
        return 0
    print(f"{len(report.faults)} anomalie(s) trouvée(s) en {seconds:.1f} s.")
    return 1


def _cmd_export(args: argparse.Namespace) -> int:
    core, factory = _session_factory()
    settings = load_settings()
    with factory() as session:
        try:
            result = export_archive(session, settings, core, args.directory)
        except StoreError as exc:
            print(f"Export interrompu : {exc}", file=sys.stderr)
            return 1
    print(
        f"Export de {result.files} fichier(s) dans {args.directory} : "
        f"bordereau SEDA 2.2 {result.manifest.name}, journal {result.journal.name}."
    )
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    core, factory = _session_factory()
    settings = load_settings()
    with factory() as session:
        purged = store.purge_expired(
            session, retention_years=settings.retention_years, actor=args.by
        )
        session.commit()
    store.delete_purged_files(store.FileStore.under(core.data_dir), purged)
    print(f"{len(purged)} état(s) purgé(s) après {settings.retention_years} ans.")
    return 0


class _OfflineFiles(argparse.Action):
    """Files given: the command must not touch (nor migrate) any database."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        setattr(namespace, self.dest, values)
        if values:
            namespace.needs_schema = False


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("archive", help="signed monthly statements and their archive")
    sub = parser.add_subparsers(dest="archive_command", required=True)

    cmd = sub.add_parser("init-pki", help="make the trial CA, seal certificate and local TSA")
    cmd.add_argument("--if-missing", action="store_true", help="do nothing if it exists")
    cmd.add_argument("--force", action="store_true", help="replace an existing trial PKI")
    cmd.set_defaults(handler=_cmd_init_pki)

    cmd = sub.add_parser("run", help="build, sign and store a month's statements")
    cmd.add_argument("--month", type=parse_month, required=True, help="AAAA-MM")
    cmd.add_argument("--processes", type=int, default=None, help="default: one per core")
    cmd.add_argument("--beneficiary", type=int, action="append", help="only these ids")
    cmd.add_argument("--by", default="cli", help="who triggered the run (journal)")
    cmd.set_defaults(needs_schema=True, handler=_cmd_run)

    cmd = sub.add_parser(
        "verify",
        help="check every file, signature, timestamp and the journal; or only the PDF files given",
    )
    cmd.add_argument(
        "files",
        nargs="*",
        type=Path,
        action=_OfflineFiles,
        help="statements to check offline, without the database",
    )
    cmd.add_argument("--as-of", type=date.fromisoformat, help="validate as of this date")
    cmd.add_argument(
        "--trust",
        type=Path,
        action="append",
        help="published trust anchor (certificate file or folder, e.g. an export's trust/); "
        "default: this installation's",
    )
    cmd.add_argument("--processes", type=int, default=0)
    cmd.set_defaults(needs_schema=True, handler=_cmd_verify)

    cmd = sub.add_parser("export", help="copy the archive with its journal and SEDA manifest")
    cmd.add_argument("directory", type=Path)
    cmd.set_defaults(needs_schema=True, handler=_cmd_export)

    cmd = sub.add_parser("purge", help="delete files past the retention period (journaled)")
    cmd.add_argument("--by", default="cli")
    cmd.set_defaults(needs_schema=True, handler=_cmd_purge)


logger = logging.getLogger(__name__)
