"""The Département's acknowledgement of a DELIVERY file (format: docs/flows/esppadom-ack.md).

ESPPADOM defines no acknowledgement message for DELIVERY; this small format
is ours, for a Département whose connector agrees to write it. Reading is off
by default (``[billing] acks_enabled``). Parsed with the same safe parser and
schema discipline as the DELIVERY files.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lxml import etree

from billing_export.esppadom import SCHEMA_DIR, SchemaError, parse_untrusted, safe_parser

ACK_SCHEMA_FILE = SCHEMA_DIR / "esppadom-ack-1.xsd"
ACK_SUFFIX = ".ack.xml"


class AckError(Exception):
    """An acknowledgement file that cannot be read; the message says why (French)."""


class AckStatus(enum.StrEnum):
    ACCEPTED = "ACCEPTE"
    PARTIAL = "PARTIEL"
    REJECTED = "REJETE"


@dataclass(frozen=True, slots=True)
class Rejection:
    transaction_id: str
    code: str
    reason: str

    @property
    def visit_id(self) -> int | None:
        """The visit behind a document id ``V<visit id>-<funder>-<YYYYMM>`` (or an older
        ``I<issued>-<visit id>-<share>``)."""
        parts = self.transaction_id.split("-")
        if len(parts) >= 3 and parts[0][:1] == "V" and parts[0][1:].isdigit():
            return int(parts[0][1:])
        if len(parts) == 3 and parts[0][:1] == "I" and parts[1].isdigit():
            return int(parts[1])
        return None


@dataclass(frozen=True, slots=True)
class Ack:
    file: str
    sha256: str
    status: AckStatus
    received_at: datetime
    rejections: tuple[Rejection, ...]


def ack_name(delivery_name: str) -> str:
    return delivery_name.removesuffix(".xml") + ACK_SUFFIX


_schema: etree.XMLSchema | None = None


def parse_ack(data: bytes) -> Ack:
    global _schema
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(ACK_SCHEMA_FILE), safe_parser()))
    try:
        root = parse_untrusted(data).getroot()
    except SchemaError as exc:
        raise AckError(f"accusé de réception : {exc}") from None
    if not _schema.validate(root):
        first = _schema.error_log[0]  # type: ignore[index]
        raise AckError(f"accusé de réception non conforme, ligne {first.line} : {first.message}")
    rejections = tuple(
        Rejection(r.get("transaction", ""), r.get("code", ""), (r.text or "").strip())
        for r in root.iterfind("Rejet")
    )
    return Ack(
        file=root.get("fichier", ""),
        sha256=root.get("sha256", ""),
        status=AckStatus(root.get("statut", "")),
        received_at=datetime.fromisoformat(root.get("date", "")),
        rejections=rejections,
    )


def acknowledge(
    delivery: Path,
    folder: Path,
    status: AckStatus,
    received_at: datetime,
    rejections: tuple[Rejection, ...] = (),
    sha256: str | None = None,
) -> Path:
    """Acknowledge a DELIVERY file into ``folder`` as the Département would (tests, demos).

    ``sha256`` defaults to the digest of the file's bytes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ack_name(delivery.name)
    digest = sha256 or hashlib.sha256(delivery.read_bytes()).hexdigest()
    write_ack(
        path,
        file=delivery.name,
        sha256=digest,
        status=status,
        received_at=received_at,
        rejections=rejections,
    )
    return path


def write_ack(
    path: Path,
    *,
    file: str,
    sha256: str,
    status: AckStatus,
    received_at: datetime,
    rejections: tuple[Rejection, ...] = (),
) -> None:
    """Write an acknowledgement file (the format of docs/flows/esppadom-ack.md)."""
    root = etree.Element(
        "AccuseReception",
        {
            "fichier": file,
            "sha256": sha256,
            "statut": status.value,
            "date": received_at.isoformat(timespec="seconds"),
        },
    )
    for rejection in rejections:
        element = etree.SubElement(
            root, "Rejet", {"transaction": rejection.transaction_id, "code": rejection.code}
        )
        element.text = rejection.reason
    path.write_bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
