"""Archive tables: one row per signed statement version, and the hash-chained journal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger import immutability
from ledger.models import Base, BigId
from ledger.timeutil import utc_now


class ArchivedStatement(Base):
    """A signed statement of one beneficiary-month; a correction adds a version."""

    __tablename__ = "archive_statements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiaries.id", ondelete="RESTRICT"), index=True
    )
    #: The beneficiary's antenna when archived: the extranet's scoping key.
    antenna_id: Mapped[int] = mapped_column(
        ForeignKey("antennas.id", ondelete="RESTRICT"), index=True
    )
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the signed PDF, hex: also its file name in the store.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the statement's figures: a rerun with equal figures is skipped.
    figures_digest: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    #: "scheduler" or the login of whoever ran it.
    triggered_by: Mapped[str] = mapped_column(String(80))
    #: The version this one replaces (None for version 1).
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("archive_statements.id", ondelete="RESTRICT"), unique=True
    )
    #: Set when the file was purged after the retention period.
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        UniqueConstraint("beneficiary_id", "year", "month", "version", name="uq_archive_version"),
        Index("ix_archive_statements_period", "year", "month"),
    )

    @property
    def period(self) -> str:
        return f"{self.year}-{self.month:02d}"


class JournalEntry(Base):
    """Append-only journal: each entry carries the hash of the previous one."""

    __tablename__ = "archive_journal"

    #: Position in the chain, from 1, without gaps.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    #: statement.archived | statement.extended | statement.purged | journal.sealed | pki.created
    kind: Mapped[str] = mapped_column(String(40))
    statement_id: Mapped[int | None] = mapped_column(
        ForeignKey("archive_statements.id", ondelete="RESTRICT"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


immutability.install(JournalEntry.__table__)  # type: ignore[arg-type]
