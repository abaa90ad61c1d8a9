"""Read API of the archive for the extranet (listing and serving statements).

Usage from an extranet view, after its own access check::

    from archive.service import statements_for, open_statement

    rows = statements_for(session, antenna_ids=user_antenna_ids, month=(2026, 10))
    # or: statements_for(session, beneficiary_ids=[42])
    pdf: bytes = open_statement(core_settings, rows[0])   # or a data dir Path

``statements_for`` returns the **current** version of each beneficiary-month
(the latest, not purged) unless ``all_versions=True``; every row carries
``beneficiary_id``, ``antenna_id`` (scoping key), ``year``, ``month``,
``version``, ``sha256``, ``signed_at`` and ``supersedes_id``.
Scope: pass ``beneficiary_ids`` and/or ``antenna_ids``; both None means all
(central referents only: the caller decides). ``open_statement`` re-checks
the file's SHA-256 before returning it and raises ``StatementUnavailable``
(French message, safe to show) when it is purged, missing or altered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import ArchivedStatement
from archive.store import FileStore
from kernel.settings import CoreSettings


class StatementUnavailable(Exception):
    """The statement's file cannot be served; the message is safe to show (French)."""


def statements_for(
    session: Session,
    beneficiary_ids: Iterable[int] | None = None,
    *,
    antenna_ids: Iterable[int] | None = None,
    month: tuple[int, int] | None = None,
    all_versions: bool = False,
) -> list[ArchivedStatement]:
    """Archived statements in scope, newest month first, then by beneficiary."""
    query = select(ArchivedStatement)
    if beneficiary_ids is not None:
        query = query.where(ArchivedStatement.beneficiary_id.in_(list(beneficiary_ids)))
    if antenna_ids is not None:
        query = query.where(ArchivedStatement.antenna_id.in_(list(antenna_ids)))
    if month is not None:
        query = query.where(ArchivedStatement.year == month[0], ArchivedStatement.month == month[1])
    rows = session.scalars(
        query.order_by(
            ArchivedStatement.year.desc(),
            ArchivedStatement.month.desc(),
            ArchivedStatement.beneficiary_id,
            ArchivedStatement.version.desc(),
        )
    ).all()
    if all_versions:
        return list(rows)
    current: dict[tuple[int, int, int], ArchivedStatement] = {}
    for row in rows:
        current.setdefault((row.beneficiary_id, row.year, row.month), row)
    return [row for row in current.values() if row.purged_at is None]


def open_statement(
    settings_or_data_dir: CoreSettings | Path, statement: ArchivedStatement
) -> bytes:
    """The signed PDF's bytes, after checking them against the recorded SHA-256."""
    data_dir = (
        settings_or_data_dir.data_dir
        if isinstance(settings_or_data_dir, CoreSettings)
        else settings_or_data_dir
    )
    if statement.purged_at is not None:
        raise StatementUnavailable("Cet état a été purgé à la fin de sa durée de conservation.")
    try:
        data = FileStore.under(data_dir).read(statement.sha256)
    except FileNotFoundError:
        raise StatementUnavailable(
            "Le fichier de cet état est introuvable : prévenez l'administrateur."
        ) from None
    if hashlib.sha256(data).hexdigest() != statement.sha256:
        raise StatementUnavailable("Le fichier de cet état est altéré : prévenez l'administrateur.")
    return data


def download_name(statement: ArchivedStatement) -> str:
    return f"etat-mensuel-{statement.period}-b{statement.beneficiary_id}-v{statement.version}.pdf"
