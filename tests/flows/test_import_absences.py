"""The absences file: created, changed, cancelled; beneficiaries must be known."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.importer import import_file
from ledger.models import Absence, AbsenceKind, AuditEntry
from tests.flows.files import ben_row, bens_file, world, write

HEADER = "id_planning;id_beneficiaire;type;date_debut;date_fin"


def _absences_file(folder: Path, day: str, *lines: str) -> Path:
    return write(folder, f"absences_{day}.csv", ("\r\n".join((HEADER, *lines)) + "\r\n").encode())


def test_absences_are_created_changed_and_cancelled(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    world(session)
    import_file(session_factory, bens_file(tmp_path / "in", [ben_row()]), tmp_path)
    first = _absences_file(
        tmp_path / "in",
        "20261123",
        "A1;BEN001;hospitalisation;2026-11-20;2026-12-04",
        "A2;BEN001;conges;2026-12-20;2026-12-31",
        "A3;INCONNU;deces;2026-11-22;",
        "A4;BEN001;conges;2026-12-10;2026-12-01",
    )
    report = import_file(session_factory, first, tmp_path)
    assert (report.created, report.rejected) == (2, 2)
    assert report.reject_path is not None
    rejected = report.reject_path.read_text()
    assert "bénéficiaire inconnu" in rejected and "fin avant le début" in rejected
    second = _absences_file(
        tmp_path / "in", "20261124", "A1;BEN001;hospitalisation;2026-11-20;2026-12-10"
    )
    report = import_file(session_factory, second, tmp_path)
    assert (report.updated, report.removed) == (1, 1)
    session.expire_all()
    [absence] = session.scalars(select(Absence)).all()
    assert (absence.external_id, absence.kind, absence.ends_on) == (
        "A1",
        AbsenceKind.HOSPITAL,
        date(2026, 12, 10),
    )
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "absence")
    ).all()
    assert sorted(actions) == ["flows.absence"] * 3 + ["flows.absence_removed"]
