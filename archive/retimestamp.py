"""Re-timestamping: extend each archived file's timestamp chain before it ages out.

A sealed statement stays provable "as of" a later date because its last
document timestamp covers everything before it. That last timestamp is only
good while its authority's certificate is valid and its hash algorithm is
trusted; before either ends (``archive.renew_before_days``, the sunsets in
``archive.hash_sunsets``) a new link is added: validation data for the last
timestamp, then a new document timestamp (``ChainExtender.extend``), with a
stronger hash when the old one is being retired.

An extended file is an incremental update: its first bytes are the previous
file, byte for byte. The store names files by their hash, so the extended
file is stored under its new hash, the statement's row points to it, a
``statement.extended`` journal entry records both hashes and sizes, and the
previous file is removed once that is committed.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import journal
from archive.models import ArchivedStatement
from archive.pki import PkiError
from archive.settings import ArchiveSettings
from archive.signing import ChainExtender
from archive.store import FileStore
from kernel.settings import CoreSettings
from ledger.timeutil import as_utc, utc_now

logger = logging.getLogger(__name__)

BATCH = 100


@dataclass(frozen=True)
class Due:
    #: French, for the journal and the run's message.
    reason: str
    #: Hash for the new link, when the last one's is being retired.
    md_algorithm: str | None


@dataclass(frozen=True)
class RetimestampSummary:
    checked: int
    extended: int
    missing: int
    seconds: float


def due(pdf: bytes, settings: ArchiveSettings, now: datetime) -> Due | None:
    """Whether the file's last timestamp must be covered by a new one now, and why."""
    reader = PdfFileReader(io.BytesIO(pdf))
    stamps = reader.embedded_timestamp_signatures
    if not stamps:
        return Due("aucun horodatage de document", None)
    last = stamps[-1]
    limit = as_utc(now) + timedelta(days=settings.renew_before_days)
    # The algorithm that hashed the document (the token's message imprint).
    algorithm = last.external_md_algorithm
    sunset = settings.sunsets().get(algorithm)
    if sunset is not None and limit >= datetime.combine(sunset, time(), tzinfo=UTC):
        return Due(f"algorithme {algorithm} retiré le {sunset:%d/%m/%Y}", settings.renew_hash)
    expires = last.signer_cert.not_valid_after
    if limit >= expires:
        return Due(f"certificat de l'horodatage valable jusqu'au {expires:%d/%m/%Y}", None)
    return None


def retimestamp(
    session_factory: sessionmaker[Session],
    core: CoreSettings,
    settings: ArchiveSettings,
    *,
    actor: str,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RetimestampSummary:
    """Extend every live file that is due; one transaction per ``BATCH`` files."""
    moment = as_utc(now or utc_now())
    started = utc_now()
    extender = ChainExtender(settings, core.data_dir, now=moment)
    expires = extender.authority_expires()
    if expires <= moment + timedelta(days=settings.renew_before_days):
        raise PkiError(
            f"le certificat de l'autorité d'horodatage expire le {expires:%d/%m/%Y} : "
            "un horodatage de plus n'y survivrait pas ; renouvelez-le d'abord"
        )
    files = FileStore.under(core.data_dir)
    checked = extended = missing = 0
    with session_factory() as session:
        ids = session.scalars(
            select(ArchivedStatement.id)
            .where(ArchivedStatement.purged_at.is_(None))
            .order_by(ArchivedStatement.id)
        ).all()
        replaced: list[str] = []
        for index, statement_id in enumerate(ids, start=1):
            row = session.get_one(ArchivedStatement, statement_id)
            checked += 1
            try:
                data = files.read(row.sha256)
            except FileNotFoundError:
                missing += 1  # `archive verify` names it; nothing to extend
                continue
            if hashlib.sha256(data).hexdigest() != row.sha256:
                missing += 1  # altered: extending it would hide the damage
                continue
            reason = due(data, settings, moment)
            if reason is not None:
                longer = extender.extend(data, reason.md_algorithm)
                sha = files.put(longer)
                journal.append(
                    session,
                    "statement.extended",
                    {
                        "beneficiary_id": row.beneficiary_id,
                        "period": row.period,
                        "version": row.version,
                        "previous_sha256": row.sha256,
                        "previous_size": row.size,
                        "sha256": sha,
                        "size": len(longer),
                        "reason": reason.reason,
                        "actor": actor,
                    },
                    statement_id=row.id,
                    at=moment,
                )
                replaced.append(row.sha256)
                row.sha256, row.size = sha, len(longer)
                extended += 1
            if index % BATCH == 0:
                _commit(session, files, replaced)
            if progress is not None:
                progress(index, len(ids))
        if extended:
            journal.seal(session, extender.timestamper)
        _commit(session, files, replaced)
    extender.close()
    seconds = (utc_now() - started).total_seconds()
    summary = RetimestampSummary(checked, extended, missing, seconds)
    logger.info("archive retimestamp %s", summary)
    return summary


def _commit(session: Session, files: FileStore, replaced: list[str]) -> None:
    session.commit()
    # Only once the rows point to the longer files: each holds the old one whole.
    for sha in replaced:
        files.path_of(sha).unlink(missing_ok=True)
    replaced.clear()
