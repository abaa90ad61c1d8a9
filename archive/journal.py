"""The append-only, hash-chained archive journal and its timestamped seals.

Each entry's hash covers its position, time, kind, statement and payload and
the previous entry's hash, so an edited, deleted, inserted or reordered entry
breaks the chain where it happened. A ``journal.sealed`` entry carries an
RFC 3161 timestamp token over the hash of the entry before it, which proves
that the chain up to there existed at that time
(docs/decisions/0404-archive-journal.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import cms
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import JournalEntry
from archive.signing import TrustMaterial, validation_context
from ledger.timeutil import as_utc, utc_now

GENESIS = "0" * 64


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(
    seq: int,
    at: datetime,
    kind: str,
    statement_id: int | None,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": as_utc(at).isoformat(timespec="microseconds"),
        "kind": kind,
        "statement_id": statement_id,
        "payload": payload,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


_HEAD = "archive.journal.head"


def head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the last entry; within one transaction, remembered after an append."""
    cached = session.info.get(_HEAD)
    # Same transaction, and the entry not undone by a savepoint's rollback.
    if cached is not None and cached[0] is session.get_transaction() and cached[1] in session:
        return cached[1].seq, cached[1].entry_hash
    last = session.scalars(select(JournalEntry).order_by(JournalEntry.seq.desc()).limit(1)).first()
    return (0, GENESIS) if last is None else (last.seq, last.entry_hash)


def append(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    statement_id: int | None = None,
    at: datetime | None = None,
) -> JournalEntry:
    """Add the next entry; the caller's transaction makes it durable.

    Concurrent writers are serialised by the primary key on ``seq``: the
    second to commit fails and its job is retried, never silently forked.
    """
    seq, prev = head(session)
    moment = as_utc(at or utc_now())
    entry = JournalEntry(
        seq=seq + 1,
        at=moment,
        kind=kind,
        statement_id=statement_id,
        payload=payload,
        prev_hash=prev,
        entry_hash=entry_hash(seq + 1, moment, kind, statement_id, payload, prev),
    )
    session.add(entry)
    session.flush()
    # A new transaction reads the head again (another writer may have appended).
    session.info[_HEAD] = (session.get_transaction(), entry)
    return entry


def seal(session: Session, timestamper: TimeStamper) -> JournalEntry | None:
    """Timestamp the journal's head with the authority; None when already sealed."""
    seq, prev = head(session)
    if seq == 0:
        return None
    last = session.get(JournalEntry, seq)
    if last is not None and last.kind == "journal.sealed":
        return None
    token = asyncio.run(timestamper.async_timestamp(bytes.fromhex(prev), "sha256"))
    return append(
        session,
        "journal.sealed",
        {
            "sealed_seq": seq,
            "sealed_hash": prev,
            "token": base64.b64encode(token.dump()).decode(),
        },
    )


def entries_since_seal(session: Session) -> int:
    last_seal = session.scalar(
        select(func.max(JournalEntry.seq)).where(JournalEntry.kind == "journal.sealed")
    )
    seq, _ = head(session)
    return seq - (last_seal or 0)


@dataclass(frozen=True)
class ChainFault:
    seq: int
    #: French, for the verify report.
    problem: str


def check_chain(entries: Iterable[JournalEntry], trust: TrustMaterial) -> Iterator[ChainFault]:
    """Recompute the chain in ``seq`` order and check every seal's token."""
    expected_seq = 1
    prev = GENESIS
    hashes: dict[int, str] = {}
    for entry in entries:
        if entry.seq != expected_seq:
            yield ChainFault(
                entry.seq,
                f"entrée(s) {expected_seq} à {entry.seq - 1} manquante(s) dans le journal",
            )
        recomputed = entry_hash(
            entry.seq, entry.at, entry.kind, entry.statement_id, entry.payload, entry.prev_hash
        )
        if recomputed != entry.entry_hash:
            yield ChainFault(entry.seq, "entrée modifiée : son empreinte ne correspond plus")
        if entry.prev_hash != prev:
            yield ChainFault(
                entry.seq,
                "chaînage rompu : l'empreinte précédente ne correspond pas à l'entrée "
                f"{entry.seq - 1} (entrée supprimée, insérée ou déplacée)",
            )
        if entry.kind == "journal.sealed":
            yield from _check_seal(entry, hashes, trust)
        hashes[entry.seq] = entry.entry_hash
        prev = entry.entry_hash
        expected_seq = entry.seq + 1


def _check_seal(
    entry: JournalEntry, hashes: dict[int, str], trust: TrustMaterial
) -> Iterator[ChainFault]:
    sealed_seq = entry.payload.get("sealed_seq")
    sealed_hash = entry.payload.get("sealed_hash", "")
    if not isinstance(sealed_seq, int) or hashes.get(sealed_seq) != sealed_hash:
        yield ChainFault(entry.seq, f"scellement : l'entrée {sealed_seq} scellée a changé")
        return
    try:
        token = cms.ContentInfo.load(base64.b64decode(entry.payload["token"]))
        signed_data = token["content"]
        gen_time = signed_data["encap_content_info"]["content"].parsed["gen_time"].native
        # Checked as of the token's own time, with the archived CRLs: the
        # authority's certificate may have expired since.
        status = asyncio.run(
            validate_tst_signed_data(
                signed_data,
                validation_context(trust, moment=gen_time),
                expected_tst_imprint=lambda _algorithm: bytes.fromhex(sealed_hash),
            )
        )
    except Exception as exc:  # noqa: BLE001 - any failure is a fault to name
        yield ChainFault(entry.seq, f"scellement : jeton d'horodatage invalide ({exc})")
        return
    if not (status["intact"] and status["valid"] and status["trust_problem_indic"] is None):
        yield ChainFault(entry.seq, "scellement : jeton d'horodatage non valide ou non fiable")
