"""Backups that restore: make, check, restore, verify (decision 0601).

A backup is one folder ``backup-AAAAMMJJTHHMMSSZ`` under ``[backup] dir``:

- the database: the embedded SQLite copied through its online backup API
  (``sqlite3.Connection.backup``: a consistent copy while the service
  writes) into ``database.sqlite3``; PostgreSQL through pgBackRest, whose
  repository holds the base backup and the archived WAL (point-in-time
  restore), named in the manifest by its label;
- ``data/``: the data directory's files (archive store and its PKI, flow
  files sent and received, billing files, IVR spools), never the database
  files, the extranet's session key nor the backups themselves;
- ``settings.toml``: the settings file named by ``TELEGESTION_CONFIG``, if
  any (secrets are only in the environment, so never in a backup);
- ``manifest.json``: SHA-256 and size of every file, and per table the row
  count and a hash of its content; ``manifest.sha256``: the manifest's hash.

``check`` refuses a backup whose manifest or any file differs (one flipped
byte, a missing or an added file) before ``restore`` touches anything.
``verify`` then compares the restored instance with the manifest, table by
table, checks the append-only histories and runs the archive's own check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url

from config.database import import_all_models
from kernel import settings as settings_module
from kernel.files import atomic_write, sha256_file
from ledger.models import Base, VisitVersion

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"
DATABASE = "database.sqlite3"
DATA = "data"
SETTINGS = "settings.toml"
#: Written into the data directory by ``restore``: what it came from (``verify`` reads it).
RESTORED_MARK = "restored-from.json"

#: Names at the top of the data directory that a backup never copies: the database
#: (copied consistently through its own API), the extranet's session key (a secret,
#: made again on the first start), the local Asterisk's chroot (installed software).
EXCLUDED_TOP = ("telegestion.sqlite3", "extranet-secret-key", "asterisk", RESTORED_MARK)


class BackupError(Exception):
    """A backup refused or failed; the message says why, in French."""


@dataclasses.dataclass(frozen=True)
class BackupSettings:
    """The ``[backup]`` section (``TELEGESTION_BACKUP_*``)."""

    #: Where backup folders go; empty means ``<data_dir>/backups``. In production: another disk.
    dir: str = ""
    #: How many backups to keep (the oldest beyond are deleted after a successful one).
    keep: int = 7
    #: pgBackRest's stanza (the PostgreSQL cluster as pgBackRest knows it).
    pgbackrest_stanza: str = "telegestion"
    #: pgBackRest's configuration file; empty means its default (/etc/pgbackrest/pgbackrest.conf).
    pgbackrest_config: str = ""
    #: How to run pgBackRest, e.g. ``runuser -u postgres -- pgbackrest`` when run as root.
    pgbackrest_command: str = "pgbackrest"

    def folder(self, data_dir: Path) -> Path:
        return Path(self.dir) if self.dir else data_dir / "backups"


def load_settings(env: Mapping[str, str] | None = None) -> BackupSettings:
    settings = settings_module.load_section(BackupSettings, "backup", env)
    if settings.keep < 1:
        raise settings_module.SettingsError("TELEGESTION_BACKUP_KEEP: au moins 1")
    return settings


# -- content digests -----------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value, sort_keys=True, default=str))
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def table_digests(engine: Engine) -> dict[str, dict[str, Any]]:
    """Per table of the metadata: its row count and the SHA-256 of its rows in key order."""
    import_all_models()
    digests: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            digest = hashlib.sha256()
            rows = 0
            for row in conn.execute(select(table).order_by(*order)).yield_per(2000):
                digest.update(json.dumps([_plain(v) for v in row], sort_keys=True).encode())
                digest.update(b"\n")
                rows += 1
            digests[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
    return digests


# -- files ---------------------------------------------------------------------------


def _data_files(data_dir: Path, backups: Path) -> list[Path]:
    """The data directory's files a backup holds (walked with pruning: no chroot walk)."""
    backups = backups.resolve()
    found: list[Path] = []
    for folder, dirs, files in os.walk(data_dir):
        here = Path(folder)
        top = here == data_dir
        dirs[:] = sorted(
            d for d in dirs if not (top and d in EXCLUDED_TOP) and (here / d).resolve() != backups
        )
        for name in sorted(files):
            if top and (name in EXCLUDED_TOP or name.startswith("telegestion.sqlite3")):
                continue
            found.append(here / name)
    return found


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    shutil.copystat(source, target)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupError("base SQLite en mémoire : rien à sauvegarder")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # A lone file: out of WAL mode, so that reading it leaves no -wal/-shm beside it
        # (the service's engine puts the restored copy back in WAL mode on connect).
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


# -- pgBackRest ----------------------------------------------------------------------


def _pgbackrest(settings: BackupSettings, *args: str) -> str:
    argv = shlex.split(settings.pgbackrest_command)
    if settings.pgbackrest_config:
        argv.append(f"--config={settings.pgbackrest_config}")
    argv += [f"--stanza={settings.pgbackrest_stanza}", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600)
    except FileNotFoundError:
        raise BackupError(
            f"pgBackRest introuvable ({argv[0]}) : installez le paquet Debian pgbackrest"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(
            f"pgBackRest {args[0]} a échoué (code {done.returncode}) : "
            + (detail[-1] if detail else "sans message")
        )
    return done.stdout


def _pg_backup(settings: BackupSettings) -> dict[str, Any]:
    # stanza-create is idempotent: it succeeds on a stanza that exists and matches.
    _pgbackrest(settings, "stanza-create")
    before = {b["label"] for b in _pg_info(settings)}
    _pgbackrest(settings, "backup", "--type=full", f"--repo1-retention-full={settings.keep}")
    made = [b for b in _pg_info(settings) if b["label"] not in before]
    if not made:
        raise BackupError("pgBackRest n'a enregistré aucune nouvelle sauvegarde")
    last = made[-1]
    return {
        "stanza": settings.pgbackrest_stanza,
        "label": last["label"],
        "stop": datetime.fromtimestamp(last["timestamp"]["stop"], UTC).isoformat(),
        "wal_start": last["archive"]["start"],
        "wal_stop": last["archive"]["stop"],
    }


def _pg_info(settings: BackupSettings) -> list[dict[str, Any]]:
    info = json.loads(_pgbackrest(settings, "info", "--output=json") or "[]")
    return [b for stanza in info for b in stanza.get("backup", [])]


# -- make ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    folder: Path
    files: int
    tables: int
    rows: int
    removed: tuple[Path, ...] = ()


def make_backup(
    url: str,
    data_dir: Path,
    settings: BackupSettings,
    *,
    config_file: Path | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Made:
    """Make one backup folder, then apply the retention. Raise ``BackupError``."""
    from ledger.db import make_engine

    now = now or datetime.now(UTC)
    root = settings.folder(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"backup-{now:%Y%m%dT%H%M%SZ}"
    if folder.exists():
        raise BackupError(f"{folder} existe déjà")
    partial = root / f".{folder.name}.part"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "backend": "sqlite" if url.startswith("sqlite") else "postgresql",
    }
    if url.startswith("sqlite"):
        _sqlite_copy(_sqlite_path(url), partial / DATABASE)
        # Plain and read-only: the service's engine would turn the copy back to WAL mode.
        copy_engine = create_engine(f"sqlite:///file:{partial / DATABASE}?mode=ro&uri=true")
        manifest["tables"] = table_digests(copy_engine)
        copy_engine.dispose()
    else:
        engine = make_engine(url)
        manifest["tables"] = table_digests(engine)
        engine.dispose()
        manifest["pgbackrest"] = _pg_backup(settings)
    sources = list(_data_files(data_dir, root))
    for index, path in enumerate(sources, start=1):
        _copy(path, partial / DATA / path.relative_to(data_dir))
        progress(index, len(sources))
    if config_file is not None:
        _copy(config_file, partial / SETTINGS)
    manifest["files"] = {
        path.relative_to(partial).as_posix(): {
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
        }
        for path in sorted(partial.rglob("*"))
        if path.is_file()
    }
    body = json.dumps(manifest, indent=1, sort_keys=True).encode()
    atomic_write(partial / MANIFEST, body)
    atomic_write(partial / MANIFEST_HASH, (hashlib.sha256(body).hexdigest() + "\n").encode())
    partial.rename(folder)
    removed = apply_retention(root, settings.keep)
    tables = manifest["tables"]
    return Made(
        folder,
        files=len(manifest["files"]),
        tables=len(tables),
        rows=sum(t["rows"] for t in tables.values()),
        removed=removed,
    )


def apply_retention(root: Path, keep: int) -> tuple[Path, ...]:
    """Delete the oldest complete backups beyond ``keep`` (names sort by time)."""
    folders = sorted(p for p in root.glob("backup-*") if (p / MANIFEST).exists())
    old = folders[:-keep] if len(folders) > keep else []
    for folder in old:
        shutil.rmtree(folder)
    return tuple(old)


# -- check ---------------------------------------------------------------------------


def check(folder: Path) -> dict[str, Any]:
    """The manifest of an intact backup; ``BackupError`` listing every fault otherwise."""
    if not (folder / MANIFEST).is_file():
        raise BackupError(f"{folder} n'est pas une sauvegarde : {MANIFEST} manquant")
    body = (folder / MANIFEST).read_bytes()
    try:
        expected = (folder / MANIFEST_HASH).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise BackupError(f"sauvegarde refusée : {MANIFEST_HASH} manquant ou illisible") from None
    if hashlib.sha256(body).hexdigest() != expected:
        raise BackupError(
            f"sauvegarde refusée : {MANIFEST} a été modifié (son empreinte SHA-256 ne "
            f"correspond plus à {MANIFEST_HASH})"
        )
    manifest: dict[str, Any] = json.loads(body)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"sauvegarde refusée : format {manifest.get('format')!r} inconnu")
    faults = []
    listed = manifest["files"]
    for name, meta in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            faults.append(f"fichier manquant : {name}")
        elif path.stat().st_size != meta["size"] or sha256_file(path) != meta["sha256"]:
            faults.append(f"fichier altéré (empreinte SHA-256 différente) : {name}")
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in listed and name not in (MANIFEST, MANIFEST_HASH):
            faults.append(f"fichier en trop, absent du manifeste : {name}")
    if faults:
        raise BackupError(
            f"sauvegarde refusée, {len(faults)} anomalie(s) :\n  - " + "\n  - ".join(faults)
        )
    return manifest


# -- restore -------------------------------------------------------------------------


def restore(
    folder: Path,
    url: str,
    data_dir: Path,
    settings: BackupSettings,
    *,
    to_time: datetime | None = None,
    timeline: str = "current",
) -> list[str]:
    """Restore a checked backup into an empty instance; return what to do next (French).

    ``timeline`` (PostgreSQL, with ``to_time``): "current" replays the WAL of the
    backup's own timeline, where the instant was lived; "latest" follows the newest
    timeline (after an earlier restore was promoted and written to).
    """
    manifest = check(folder)
    backups = settings.folder(data_dir).resolve()
    if data_dir.exists() and any(
        p for p in data_dir.iterdir() if p.resolve() != backups and p.name != "asterisk"
    ):
        raise BackupError(
            f"restauration refusée : le dossier de données {data_dir} n'est pas vide "
            "(une restauration se fait dans une instance vide)"
        )
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    if backend != manifest["backend"]:
        raise BackupError(
            f"restauration refusée : sauvegarde {manifest['backend']}, instance {backend}"
        )
    steps: list[str] = []
    data_dir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        if to_time is not None:
            raise BackupError(
                "--to-time demande PostgreSQL (WAL archivés par pgBackRest) ; la base SQLite "
                "embarquée se restaure à l'instant de sa sauvegarde"
            )
        target = _sqlite_path(url)
        if target.exists():
            raise BackupError(f"restauration refusée : la base {target} existe déjà")
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(folder / DATABASE, target)
    else:
        pg = manifest["pgbackrest"]
        args = ["restore", f"--set={pg['label']}", "--target-action=promote"]
        if to_time is None:
            args.append("--type=immediate")
        else:
            args += [
                "--type=time",
                f"--target={to_time.astimezone(UTC).isoformat(sep=' ')}",
                f"--target-timeline={timeline}",
            ]
        _pgbackrest(settings, *args)
        steps.append("démarrez PostgreSQL (la restauration rejoue les WAL archivés au démarrage)")
    for name in manifest["files"]:
        if name.startswith(DATA + "/"):
            _copy(folder / name, data_dir / name[len(DATA) + 1 :])
    if SETTINGS in manifest["files"]:
        _copy(folder / SETTINGS, data_dir / "restored-settings.toml")
        steps.append(
            f"fichier de réglages restauré dans {data_dir / 'restored-settings.toml'} : "
            "pointez TELEGESTION_CONFIG dessus ; les secrets restent à redonner (environnement)"
        )
    mark = {"backup": folder.name, "to_time": to_time.isoformat() if to_time else None}
    atomic_write(data_dir / RESTORED_MARK, json.dumps(mark).encode())
    steps.append(f"puis vérifiez : telegestion backup verify {folder}")
    return steps


# -- verify --------------------------------------------------------------------------


@dataclass
class Verified:
    faults: list[str] = field(default_factory=list)
    tables: int = 0
    rows: int = 0
    statements: int = 0
    journal_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.faults


def visit_version_faults(engine: Engine) -> list[str]:
    """Each visit's versions number 1..n with no gap (an append-only history)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                VisitVersion.visit_id,
                func.count(),
                func.min(VisitVersion.version),
                func.max(VisitVersion.version),
            ).group_by(VisitVersion.visit_id)
        ).all()
    return [
        f"versions de l'intervention {visit_id} incomplètes ({count} pour 1 à {high})"
        for visit_id, count, low, high in rows
        if low != 1 or high != count
    ]


def verify(folder: Path, url: str, data_dir: Path) -> Verified:
    """Compare a restored instance with its backup, then run the archive's own check."""
    from archive.pki import PkiError
    from archive.settings import load as archive_settings
    from archive.verify import verify_archive
    from ledger.db import make_engine, make_session_factory

    manifest = check(folder)
    result = Verified()
    mark_path = data_dir / RESTORED_MARK
    mark = json.loads(mark_path.read_text()) if mark_path.exists() else {}
    engine = make_engine(url)
    try:
        now = table_digests(engine)
        result.tables = len(now)
        result.rows = sum(t["rows"] for t in now.values())
        for name, then in sorted(manifest["tables"].items()):
            current = now.get(name)
            if current is None:
                result.faults.append(f"table {name} absente de l'instance")
            elif mark.get("to_time"):
                # Restored to another instant: the content legitimately differs; the
                # append-only tables may only have grown.
                continue
            elif current["rows"] != then["rows"]:
                result.faults.append(
                    f"table {name} : {current['rows']} ligne(s), {then['rows']} sauvegardée(s)"
                )
            elif current["sha256"] != then["sha256"]:
                result.faults.append(f"table {name} : contenu différent de la sauvegarde")
        result.faults += visit_version_faults(engine)
        for name, meta in manifest["files"].items():
            if not name.startswith(DATA + "/"):
                continue
            path = data_dir / name[len(DATA) + 1 :]
            if not path.is_file():
                result.faults.append(f"fichier non restauré : {name[len(DATA) + 1 :]}")
            elif mark.get("to_time") is None and sha256_file(path) != meta["sha256"]:
                result.faults.append(f"fichier restauré différent : {name[len(DATA) + 1 :]}")
        with make_session_factory(engine)() as session:
            try:
                report = verify_archive(session, archive_settings(), data_dir)
            except PkiError as exc:
                # No trust material is fine for an instance that never archived a statement.
                if manifest["tables"].get("archive_statements", {}).get("rows"):
                    result.faults.append(f"vérification de l'archive impossible : {exc}")
            else:
                result.statements = report.statements
                result.journal_entries = report.journal_entries
                result.faults += [f"archive : {fault}" for fault in report.faults]
    finally:
        engine.dispose()
    return result
