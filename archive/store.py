"""Content-addressed files under ``<data_dir>/archive/files`` and their records.

A file is named by its SHA-256 and written once (temporary file, fsync,
rename, fsync of the folder; or, for a batch, the same without the fsyncs and
one ``sync`` of the batch before it is recorded); nothing is overwritten but
a torn file that was never recorded. A corrected month adds a version that links
to the one it replaces. After the retention period a file may be purged: its
row stays, marked purged, and the purge has its own journal entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import journal
from archive.models import ArchivedStatement
from kernel.files import atomic_write, sha256_file
from ledger.service import audit
from ledger.timeutil import as_utc, utc_now

logger = logging.getLogger(__name__)


class StoreError(Exception):
    """The store refused an operation; the message says which file and why."""


@dataclass(frozen=True)
class FileStore:
    root: Path

    @classmethod
    def under(cls, data_dir: Path) -> FileStore:
        return cls(data_dir / "archive" / "files")

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise StoreError(f"empreinte invalide : {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.pdf"

    def put(self, data: bytes, *, durable: bool = True) -> str:
        """Store the bytes under their SHA-256 and return it (idempotent).

        With ``durable=False`` the file is written and renamed but not yet
        flushed to disk: the caller must ``sync`` it before recording it
        anywhere (the monthly run syncs a batch of files with one journal
        commit of the file system instead of one per file).
        """
        sha = hashlib.sha256(data).hexdigest()
        path = self.path_of(sha)
        if path.exists() and sha256_file(path) == sha:
            return sha
        # Absent, or left torn by a crash before it was synced (never
        # recorded then): written again.
        if durable:
            atomic_write(path, data)
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return sha

    def sync(self, shas: Iterable[str]) -> None:
        """Flush files written with ``durable=False``, and their folders, to disk."""
        folders = set()
        for sha in shas:
            path = self.path_of(sha)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            folders.add(path.parent)
        for folder in folders:
            _fsync_dir(folder)

    def read(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def latest_versions(session: Session, year: int, month: int) -> dict[int, ArchivedStatement]:
    """The latest version of each beneficiary's statement for the month, by beneficiary."""
    latest: dict[int, ArchivedStatement] = {}
    for row in session.scalars(
        select(ArchivedStatement)
        .where(ArchivedStatement.year == year, ArchivedStatement.month == month)
        .order_by(ArchivedStatement.beneficiary_id, ArchivedStatement.version)
    ):
        latest[row.beneficiary_id] = row
    return latest


def record(
    session: Session,
    *,
    beneficiary_id: int,
    antenna_id: int,
    year: int,
    month: int,
    sha256: str,
    size: int,
    figures_digest: str,
    signed_at: datetime,
    triggered_by: str,
    #: (id, version) of the version this one replaces, if any.
    previous: tuple[int, int] | None,
) -> ArchivedStatement:
    """Add the row of a stored file and its journal entry (the caller commits)."""
    statement = ArchivedStatement(
        beneficiary_id=beneficiary_id,
        antenna_id=antenna_id,
        year=year,
        month=month,
        version=1 if previous is None else previous[1] + 1,
        sha256=sha256,
        size=size,
        figures_digest=figures_digest,
        signed_at=as_utc(signed_at),
        triggered_by=triggered_by,
        supersedes_id=None if previous is None else previous[0],
    )
    session.add(statement)
    session.flush()
    journal.append(
        session,
        "statement.archived",
        {
            "beneficiary_id": beneficiary_id,
            "period": statement.period,
            "version": statement.version,
            "sha256": sha256,
            "size": size,
            "signed_at": as_utc(signed_at).isoformat(),
            "triggered_by": triggered_by,
            "supersedes_id": statement.supersedes_id,
        },
        statement_id=statement.id,
    )
    return statement


def purge_expired(
    session: Session,
    *,
    retention_years: int,
    actor: str,
    now: datetime | None = None,
) -> list[ArchivedStatement]:
    """Delete the files whose month ended more than ``retention_years`` ago.

    Each purge leaves its own journal entry and an audit entry; the row stays.
    The caller commits, then calls ``delete_purged_files``.
    """
    moment = as_utc(now or utc_now())
    # A month of year Y is kept until the end of year Y + retention, month included.
    limit_year, limit_month = moment.year - retention_years, moment.month
    candidates = session.scalars(
        select(ArchivedStatement)
        .where(ArchivedStatement.purged_at.is_(None))
        .order_by(ArchivedStatement.id)
    ).all()
    purged = []
    for statement in candidates:
        if (statement.year, statement.month) >= (limit_year, limit_month):
            continue
        statement.purged_at = moment
        journal.append(
            session,
            "statement.purged",
            {
                "beneficiary_id": statement.beneficiary_id,
                "period": statement.period,
                "version": statement.version,
                "sha256": statement.sha256,
                "retention_years": retention_years,
                "actor": actor,
            },
            statement_id=statement.id,
            at=moment,
        )
        audit(
            session,
            actor,
            "archive.purge",
            "archive_statement",
            statement.id,
            antenna_id=statement.antenna_id,
            period=statement.period,
            version=statement.version,
        )
        session.flush()
        purged.append(statement)
    return purged


def delete_purged_files(store: FileStore, statements: list[ArchivedStatement]) -> None:
    """Remove the files of purged statements, once their purge is committed."""
    for statement in statements:
        store.path_of(statement.sha256).unlink(missing_ok=True)
