"""Beneficiaries with several plans at once (one line per plan), and their sex."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows import formats
from flows.importer import import_file
from flows.snapshot import write_beneficiaries
from ledger.models import Beneficiary, CarePlan, Funder
from tests.flows.files import ben_row, bens_file, world, write

APA = {"code_financeur": "APA75", "reference_plan": "APA-1", "heures_max": "30"}
TOP_UP = {
    "code_financeur": "CNAV",
    "reference_plan": "CN-9",
    "heures_max": "8",
    "date_debut_plan": "2026-11-01",
}


def _plans(session: Session) -> list[tuple[str, str, float, date, date | None]]:
    session.expire_all()
    return [
        (code, plan.reference, plan.max_hours, plan.starts_on, plan.ends_on)
        for plan, code in session.execute(
            select(CarePlan, Funder.code)
            .join(Funder, Funder.id == CarePlan.funder_id)
            .order_by(CarePlan.starts_on, CarePlan.id)
        )
    ]


def test_an_apa_plan_with_a_pension_fund_top_up(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    world(session)
    other = ben_row("BEN002", nom="Lefèvre", telephone_1="01 45 67 89 02")
    # The beneficiary's two lines need not follow each other.
    first = bens_file(
        tmp_path / "in",
        [ben_row(**APA, sexe="F"), other, ben_row(**TOP_UP, sexe="F")],
        day="20261123",
    )
    report = import_file(session_factory, first, tmp_path)
    assert (report.created, report.rejected) == (2, 0), report.reject_path
    assert _plans(session) == [
        ("APA75", "APA-1", 30.0, date(2026, 1, 1), None),
        ("APA75", "PLAN-1", 40.0, date(2026, 1, 1), None),
        ("CNAV", "CN-9", 8.0, date(2026, 11, 1), None),
    ]
    assert session.scalars(select(Beneficiary.sex).order_by(Beneficiary.id)).all() == ["F", None]

    # The next day the top-up is no longer in the file: it closes the day before.
    second = bens_file(tmp_path / "in", [ben_row(**APA), other], day="20261124")
    report = import_file(session_factory, second, tmp_path)
    assert (report.updated, report.unchanged, report.rejected) == (1, 1, 0)
    assert ("CNAV", "CN-9", 8.0, date(2026, 11, 1), date(2026, 11, 23)) in _plans(session)
    # An empty sex leaves the known value.
    assert session.scalars(select(Beneficiary.sex).order_by(Beneficiary.id)).all() == ["F", None]

    # Written back, a beneficiary's plans in force are one line each.
    import_file(
        session_factory,
        bens_file(tmp_path / "in", [ben_row(**APA), ben_row(**TOP_UP), other], day="20261125"),
        tmp_path,
    )
    back = write_beneficiaries(session, tmp_path / "back", date(2026, 11, 25)).path
    lines = back.read_text().splitlines()[1:]
    assert sorted(line.split(";")[15] for line in lines if line.startswith("BEN001;")) == [
        "APA75",
        "CNAV",
    ]


def test_lines_of_one_beneficiary_must_agree_and_a_plan_comes_once(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    world(session)
    path = bens_file(
        tmp_path / "in",
        [ben_row(**APA), ben_row(**TOP_UP, nom="Autre"), ben_row(**APA)],
    )
    report = import_file(session_factory, path, tmp_path)
    assert (report.created, report.rejected) == (1, 2)
    assert report.reject_path is not None
    text = report.reject_path.read_text()
    assert "mêmes informations personnelles que sa première ligne (ligne 2)" in text
    assert "plan en double pour ce bénéficiaire" in text
    assert [p[1] for p in _plans(session)] == ["APA-1"]


def test_a_file_of_the_earlier_version_without_the_sex_column_is_read(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    world(session)
    row = ben_row()
    del row["sexe"]
    header = ";".join(formats.BENEFICIARIES.names[:-1])
    data = (header + "\r\n" + ";".join(row.values()) + "\r\n").encode()
    report = import_file(
        session_factory, write(tmp_path, "beneficiaires_20261123.csv", data), tmp_path
    )
    assert (report.created, report.rejected, report.refused) == (1, 0, "")
