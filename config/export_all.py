"""``telegestion export-all FOLDER``: everything the customer owns, in one folder (reversibility).

- ``tables/<table>.csv``: every table of the metadata (all packages), one CSV
  each (semicolons, UTF-8, header of column names), cells through
  ``ledger.spreadsheet`` so that no cell runs as a formula in a spreadsheet;
- ``tables/SCHEMA.md`` and ``tables/schema.csv``: each table's columns with
  their type, nullability, key and meaning, generated from the SQLAlchemy
  metadata and the ``#:`` comments of the models, so it is never out of step;
- ``archive/``: the signed statements with their journal and SEDA 2.2
  manifest (the archive's own export, ``archive.export``);
- ``flux/``: every flow file sent and received (planning software, Département);
- ``documentation/``: the project's documentation;
- ``LISEZMOI.md`` (what is where, rows per table) and ``SHA256SUMS``.

The audit journal is ``tables/audit_journal.csv`` (the README says so).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Enum, Table, select
from sqlalchemy.orm import Session

from config.database import ROOT, import_all_models
from kernel.files import sha256_file
from kernel.settings import CoreSettings
from ledger.models import Base
from ledger.spreadsheet import SafeWriter
from ledger.timeutil import utc_now

#: Data directory folders that hold flow files sent and received.
FLOW_FOLDERS = ("flows", "billing")

#: What a column whose name says it means, when its model carries no ``#:`` comment.
GLOSSARY = {
    "code": "code (identifiant métier)",
    "name": "nom",
    "label": "libellé",
    "address": "adresse postale",
    "first_name": "prénom",
    "last_name": "nom de famille",
    "civility": "civilité",
    "postcode": "code postal",
    "created_at": "instant de création (UTC)",
    "updated_at": "instant de la dernière modification (UTC)",
    "started_at": "instant de début (UTC)",
    "ended_at": "instant de fin (UTC)",
    "finished_at": "instant de fin (UTC)",
    "starts_at": "début prévu (UTC)",
    "ends_at": "fin prévue (UTC)",
    "received_at": "instant de réception (UTC)",
    "sent_at": "instant d'envoi (UTC)",
    "at": "instant (UTC)",
    "status": "état",
    "kind": "nature",
    "month": "mois",
    "year": "année",
    "sha256": "empreinte SHA-256 du fichier",
    "size": "taille en octets",
    "path": "chemin du fichier sous le dossier de données",
    "comment": "commentaire saisi",
    "author": "auteur (identifiant de connexion ou system:...)",
    "actor": "auteur (identifiant de connexion ou system:...)",
    "active": "actif ou non",
    "enabled": "activé ou non",
    "value": "valeur",
    "key": "clé",
    "message": "message en français",
    "login": "identifiant de connexion",
    "e164": "numéro de téléphone au format international E.164",
    "external_id": "identifiant dans le logiciel de planification",
    "city": "commune",
    "birth_date": "date de naissance",
    "sex": "sexe",
    "care_start": "début de la prise en charge",
    "care_end": "fin de la prise en charge",
    "active_from": "en vigueur depuis le (date)",
    "active_until": "en vigueur jusqu'au (date), vide si toujours",
    "starts_on": "premier jour",
    "ends_on": "dernier jour",
    "service_code": "code de prestation",
    "version": "numéro de version (1, 2, ...)",
    "minutes": "minutes (ledger.money)",
    "action": "action journalisée",
    "object_type": "nature de l'objet concerné",
    "object_id": "identifiant de l'objet concerné",
    "details": "détails (JSON : avant, après, ...)",
    "payload": "contenu de l'entrée (JSON)",
    "prev_hash": "empreinte de l'entrée précédente (chaînage)",
    "entry_hash": "empreinte de cette entrée (chaînage)",
    "digits": "chiffres composés",
    "area": "arrondissement ou commune",
    "triggered_by": "qui l'a lancé (scheduler ou un identifiant)",
    "closed": "clos ou non",
}

_COMMENT = re.compile(r"^\s*#:\s?(.*)$")
_FIELD = re.compile(r"^\s*(\w+)\s*:\s*Mapped\[")


class ExportError(Exception):
    """The export refused; the message says why (French)."""


def column_meanings() -> dict[str, dict[str, str]]:
    """``#:`` comments of every mapped class, by table and column (and "" for the table)."""
    import_all_models()
    meanings: dict[str, dict[str, str]] = {}
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        table = getattr(cls, "__tablename__", None)
        if table is None:
            continue
        found = meanings.setdefault(table, {})
        found[""] = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            if comment := _COMMENT.match(line):
                pending.append(comment.group(1).strip())
                continue
            if (field := _FIELD.match(line)) and pending:
                name = field.group(1)
                prop = mapper.attrs.get(name, None)
                columns = getattr(prop, "columns", None)
                key = columns[0].name if columns else name
                found[key] = " ".join(pending)
            pending = []
    return meanings


def _meaning(table: Table, column: Any, meanings: dict[str, dict[str, str]]) -> str:
    said = meanings.get(table.name, {}).get(column.name, "")
    if said:
        return said
    parts = [GLOSSARY[column.name]] if column.name in GLOSSARY else []
    if isinstance(column.type, Enum) and column.type.enums:
        parts.append("valeurs : " + ", ".join(column.type.enums))
    if column.primary_key:
        parts.append("identifiant de la ligne")
    for fk in column.foreign_keys:
        parts.append(f"renvoie à {fk.target_fullname}")
    return "; ".join(parts)


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        return value.value
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


@dataclass
class Exported:
    folder: Path
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    files: int = 0
    statements: int = 0


def _write_tables(engine: Engine, target: Path) -> dict[str, int]:
    meanings = column_meanings()
    target.mkdir(parents=True)
    rows: dict[str, int] = {}
    schema_lines = [
        "# Schéma des tables exportées",
        "",
        "Généré depuis les modèles SQLAlchemy au moment de l'export. Fichiers CSV en UTF-8, "
        "séparateur point-virgule ; instants en UTC (ISO 8601) ; valeurs JSON telles quelles ; "
        "un texte commençant par = + - @ est précédé d'une apostrophe (protection des tableurs).",
        "",
    ]
    with (
        engine.connect() as conn,
        open(target / "schema.csv", "w", encoding="utf-8", newline="") as schema_handle,
    ):
        schema = SafeWriter(schema_handle)
        schema.writerow(["table", "colonne", "type", "obligatoire", "clé", "signification"])
        for table in Base.metadata.sorted_tables:
            schema_lines += [f"## {table.name}", ""]
            if about := meanings.get(table.name, {}).get(""):
                schema_lines += [about, ""]
            schema_lines += [
                "| colonne | type | obligatoire | signification |",
                "| --- | --- | --- | --- |",
            ]
            for column in table.columns:
                meaning = _meaning(table, column, meanings)
                key = (
                    "primaire"
                    if column.primary_key
                    else ("étrangère" if column.foreign_keys else "")
                )
                kind = str(column.type)
                schema.writerow([table.name, column.name, kind, "non" if column.nullable else "oui",
                                 key, meaning])  # fmt: skip
                schema_lines.append(
                    f"| {column.name} | {kind} | {'non' if column.nullable else 'oui'} | "
                    f"{meaning.replace('|', '/')} |"
                )
            schema_lines.append("")
            order = list(table.primary_key.columns) or list(table.columns)
            count = 0
            with open(target / f"{table.name}.csv", "w", encoding="utf-8", newline="") as handle:
                writer = SafeWriter(handle)
                writer.writerow([c.name for c in table.columns])
                for row in conn.execute(select(table).order_by(*order)).yield_per(2000):
                    writer.writerow([_cell(v) for v in row])
                    count += 1
            rows[table.name] = count
    (target / "SCHEMA.md").write_text("\n".join(schema_lines) + "\n", encoding="utf-8")
    return rows


def export_all(engine: Engine, session: Session, core: CoreSettings, folder: Path) -> Exported:
    """Write the whole export into ``folder`` (which must be empty or absent)."""
    from archive.export import export_archive
    from archive.settings import load as archive_settings

    if folder.exists() and any(folder.iterdir()):
        raise ExportError(f"le dossier {folder} n'est pas vide : choisissez un dossier vide")
    folder.mkdir(parents=True, exist_ok=True)
    result = Exported(folder)
    result.rows = _write_tables(engine, folder / "tables")
    archived = export_archive(session, archive_settings(), core, folder / "archive")
    result.statements = archived.files
    for name in FLOW_FOLDERS:
        source = core.data_dir / name
        if source.is_dir():
            shutil.copytree(source, folder / "flux" / name)
    shutil.copytree(ROOT / "docs", folder / "documentation")
    total = sum(result.rows.values())
    readme = [
        f"# Export complet — {core.organisation_name}",
        "",
        f"Fait le {utc_now().isoformat(timespec='seconds')} (UTC) par `telegestion export-all`.",
        "",
        "- `tables/` : chaque table de la base en CSV ; leur schéma dans `tables/SCHEMA.md` "
        "(et `tables/schema.csv`) ; le journal d'audit est `tables/audit_journal.csv`.",
        "- `archive/` : les états mensuels signés, leur journal chaîné et le bordereau SEDA 2.2.",
        "- `flux/` : les fichiers échangés (logiciel de planification, Département), "
        "envoyés et reçus.",
        "- `documentation/` : la documentation du logiciel.",
        "- `SHA256SUMS` : l'empreinte de chaque fichier (`sha256sum -c SHA256SUMS`).",
        "",
        f"## Lignes par table ({len(result.rows)} tables, {total} lignes)",
        "",
        "| table | lignes |",
        "| --- | --- |",
        *(f"| {name} | {count} |" for name, count in result.rows.items()),
        "",
    ]
    (folder / "LISEZMOI.md").write_text("\n".join(readme), encoding="utf-8")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    (folder / "SHA256SUMS").write_text(
        "".join(f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}\n" for p in files),
        encoding="utf-8",
    )
    result.files = len(files) + 1
    return result


def _cmd_export_all(args: Any) -> int:
    import sys

    from kernel import settings as settings_module
    from ledger.db import make_engine, make_session_factory

    core = settings_module.core()
    engine = make_engine(core.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            result = export_all(engine, session, core, args.folder)
    except ExportError as exc:
        print(f"Export refusé : {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"Export complet dans {result.folder} : {len(result.rows)} tables "
        f"({sum(result.rows.values())} lignes), {result.statements} fichier(s) d'archive, "
        f"{result.files} fichiers en tout (SHA256SUMS)."
    )
    return 0


def register(commands: Any) -> None:
    sub = commands.add_parser(
        "export-all", help="write everything the customer owns into one folder (reversibility)"
    )
    sub.add_argument("folder", type=Path)
    sub.set_defaults(needs_schema=True, handler=_cmd_export_all)
