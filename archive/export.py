"""``telegestion archive export DIR``: the archive for another provider or an archive system.

Writes ``content/<sha256>.pdf`` (every live version), ``journal.jsonl`` (the
whole hash-chained journal, one JSON object per line), ``trust/`` (the trust
roots and CRLs a verifier needs offline) and ``manifest.xml``: a SEDA 2.2
``ArchiveTransfer`` message with one archive unit per statement version and
each file's SHA-256 digest and size. The manifest follows the SEDA 2.2
element order but is not validated against the official XSD here (the
schema is not shipped); see docs/architecture/archive.md.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.journal import canonical
from archive.loader import month_bounds
from archive.models import ArchivedStatement, JournalEntry
from archive.pki import pki_paths
from archive.settings import ArchiveSettings
from archive.statement import month_label
from archive.store import FileStore, StoreError
from kernel.settings import CoreSettings
from ledger.timeutil import as_utc, utc_now

SEDA_NS = "fr:gouv:culture:archivesdefrance:seda:v2.2"
#: PRONOM identifier of PDF/A-2b.
PDFA_2B_PRONOM = "fmt/476"


@dataclass(frozen=True)
class ExportResult:
    files: int
    manifest: Path
    journal: Path


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{SEDA_NS}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def export_archive(
    session: Session, settings: ArchiveSettings, core: CoreSettings, directory: Path
) -> ExportResult:
    directory.mkdir(parents=True, exist_ok=True)
    content = directory / "content"
    content.mkdir(exist_ok=True)
    files = FileStore.under(core.data_dir)
    statements = session.scalars(
        select(ArchivedStatement)
        .where(ArchivedStatement.purged_at.is_(None))
        .order_by(ArchivedStatement.year, ArchivedStatement.month, ArchivedStatement.id)
    ).all()

    journal_path = directory / "journal.jsonl"
    with open(journal_path, "wb") as handle:
        for entry in session.scalars(select(JournalEntry).order_by(JournalEntry.seq)):
            record = {
                "seq": entry.seq,
                "at": as_utc(entry.at).isoformat(timespec="microseconds"),
                "kind": entry.kind,
                "statement_id": entry.statement_id,
                "payload": entry.payload,
                "prev_hash": entry.prev_hash,
                "entry_hash": entry.entry_hash,
            }
            handle.write(canonical(record) + b"\n")

    trust_dir = directory / "trust"
    trust_dir.mkdir(exist_ok=True)
    paths = pki_paths(core.data_dir)
    sources = [paths.ca_cert, paths.crl]
    if paths.crl_history.is_dir():
        sources += sorted(paths.crl_history.glob("*.pem"))
    for source in sources:
        if source.exists():
            shutil.copy2(source, trust_dir / source.name)
    for extra in filter(None, (p.strip() for p in settings.trust_roots.split(","))):
        shutil.copy2(extra, trust_dir / Path(extra).name)

    now = utc_now()
    root = etree.Element(f"{{{SEDA_NS}}}ArchiveTransfer", nsmap={None: SEDA_NS})  # type: ignore[dict-item]
    _el(root, "Comment", f"Archive des états mensuels du service fait — {core.organisation_name}")
    _el(root, "Date", now.isoformat(timespec="seconds"))
    _el(root, "MessageIdentifier", f"telegestion-export-{now.strftime('%Y%m%dT%H%M%SZ')}")
    _el(root, "ArchivalAgreement", "telegestion-etats-mensuels")
    versions = _el(root, "CodeListVersions")
    _el(versions, "FileFormatCodeListVersion", "PRONOM")
    _el(versions, "MessageDigestAlgorithmCodeListVersion", "IANA")
    package = _el(root, "DataObjectPackage")
    units: list[tuple[str, str, ArchivedStatement | None]] = []

    def add_object(index: int, path: Path, uri: str, mime: str, fmt: str | None) -> str:
        data = path.read_bytes()
        group = _el(package, "DataObjectGroup", id=f"GRP{index}")
        obj = _el(group, "BinaryDataObject", id=f"BDO{index}")
        _el(obj, "DataObjectVersion", "BinaryMaster_1")
        _el(obj, "Uri", uri)
        _el(obj, "MessageDigest", hashlib.sha256(data).hexdigest(), algorithm="SHA-256")
        _el(obj, "Size", str(len(data)))
        identification = _el(obj, "FormatIdentification")
        _el(identification, "MimeType", mime)
        if fmt:
            _el(identification, "FormatId", fmt)
        info = _el(obj, "FileInfo")
        _el(info, "Filename", path.name)
        return f"GRP{index}"

    copied = 0
    for index, archived in enumerate(statements, start=1):
        source = files.path_of(archived.sha256)
        if not source.exists():
            raise StoreError(
                f"fichier absent : {source} (état {archived.id}) ; "
                "lancez `telegestion archive verify`"
            )
        target = content / f"{archived.sha256}.pdf"
        shutil.copy2(source, target)
        copied += 1
        group = add_object(
            index, target, f"content/{target.name}", "application/pdf", PDFA_2B_PRONOM
        )
        units.append((group, f"U{index}", archived))
    group = add_object(
        len(statements) + 1, journal_path, "journal.jsonl", "application/x-ndjson", None
    )
    units.append((group, "JOURNAL", None))

    descriptive = _el(package, "DescriptiveMetadata")
    for group, unit_id, statement in units:
        unit = _el(descriptive, "ArchiveUnit", id=unit_id)
        body = _el(unit, "Content")
        _el(body, "DescriptionLevel", "Item")
        if statement is None:
            _el(body, "Title", "Journal chaîné de l'archive (une entrée JSON par ligne)")
        else:
            first, after = month_bounds(statement.year, statement.month)
            title = (
                f"État mensuel du service fait — {month_label(statement.year, statement.month)}"
                f" — bénéficiaire {statement.beneficiary_id} — version {statement.version}"
            )
            _el(body, "Title", title)
            _el(body, "OriginatingSystemId", f"archive_statements:{statement.id}")
            _el(body, "StartDate", first.isoformat())
            _el(body, "EndDate", after.fromordinal(after.toordinal() - 1).isoformat())
        reference = _el(unit, "DataObjectReference")
        _el(reference, "DataObjectGroupReferenceId", group)
    management = _el(package, "ManagementMetadata")
    _el(management, "OriginatingAgencyIdentifier", core.organisation_name)
    agency = _el(root, "ArchivalAgency")
    _el(agency, "Identifier", "DESTINATAIRE")
    transferring = _el(root, "TransferringAgency")
    _el(transferring, "Identifier", core.organisation_name)

    manifest = directory / "manifest.xml"
    manifest.write_bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
    (directory / "LISEZ-MOI.txt").write_text(
        "Export de l'archive des états mensuels.\n"
        "manifest.xml : bordereau de transfert SEDA 2.2 (empreintes SHA-256).\n"
        "journal.jsonl : journal chaîné (chaque entrée porte l'empreinte de la précédente).\n"
        "trust/ : racines de confiance et listes de révocation pour vérifier hors ligne.\n"
        + json.dumps({"statements": copied}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    return ExportResult(copied, manifest, journal_path)
