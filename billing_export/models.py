"""Billing's tables: the outbox journal of DELIVERY files, and the Département's invoices.

What each file declared, visit by visit, is in the ledger's ``declarations``
table (``ledger.declarations``); these tables say which files exist, whether
each has left, and which final invoices came back.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, BigId, _enum
from ledger.timeutil import utc_now


class OutboxStatus(enum.StrEnum):
    #: Journalled, declarations recorded, not (known to be) on the remote side yet.
    PENDING = "pending"
    SENT = "sent"

    @property
    def label(self) -> str:
        return {OutboxStatus.PENDING: "en attente d'envoi", OutboxStatus.SENT: "envoyé"}[self]


class OutboxFile(Base):
    """A DELIVERY file, journalled before it leaves and marked sent once it has.

    A PENDING file is completed (uploaded as it is, same name and bytes) by the
    next send, before anything new is built.
    """

    __tablename__ = "billing_outbox_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: First day of the month the file declares.
    month: Mapped[date] = mapped_column(Date, index=True)
    funder_id: Mapped[int] = mapped_column(
        ForeignKey("funders.id", ondelete="RESTRICT"), index=True
    )
    #: Where the file is kept, relative to the data directory (POSIX).
    path: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: Declarations in the file, of which corrections (same id, new content) and deletions (SUP).
    advices: Mapped[int] = mapped_column(Integer)
    corrections: Mapped[int] = mapped_column(Integer, default=0)
    deletions: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[int] = mapped_column(Integer)
    #: A full re-send of the month (every line, same ids), not only what changed.
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    triggered_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_billing_outbox_files_status", "status"),)


class ReceivedInvoice(Base):
    """A final invoice of the Département (PDF), fetched from its folder, checked and kept."""

    __tablename__ = "billing_invoices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The file's name on the Département's side.
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    #: Where the PDF is kept, relative to the data directory (POSIX).
    path: Mapped[str] = mapped_column(String(300))
    #: Read from the name: the EDESS aid type ("" when not given), the month invoiced
    #: (None when not given) and the arrondissement's postcode ("" when not given:
    #: then only central roles see it).
    aid_type: Mapped[str] = mapped_column(String(10))
    month: Mapped[date | None] = mapped_column(Date)
    area: Mapped[str] = mapped_column(String(10), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
