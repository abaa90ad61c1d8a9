"""Every format has its page in docs/flows/, generated from the specification with a
golden example; the input examples import without a single reject."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from flows import docs, formats
from flows.importer import import_file
from tests.flows.files import ben_row, planned_row, render, worker_row, world

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"

INPUT_EXAMPLES = {
    "intervenants_20261123.csv": render(
        formats.WORKERS,
        [
            worker_row("INT001", adresse_antenne="12 rue de la Roquette 75011 Paris"),
            worker_row(
                "INT002",
                civilite="M",
                nom="Petit",
                prenom="Ali",
                code_antenne="SUD",
                date_fin="2026-12-31",
            ),
        ],
    ),
    "beneficiaires_20261123.csv": render(
        formats.BENEFICIARIES,
        [
            ben_row("BEN001", telephone_2="06 12 34 56 78", sexe="M"),
            ben_row(
                "BEN002",
                civilite="MME",
                nom="Lefèvre",
                prenom="Hélène",
                gir="",
                date_naissance="",
                telephone_1="+33 1 45 67 89 02",
                code_financeur="CNAV",
                reference_plan="",
                heures_max="12,5",
                date_fin_plan="2027-03-31",
                code_prestation="MENAGE",
                sexe="F",
            ),
        ],
    ),
    # Written by hand from the format's page.
    "absences_20261123.csv": (
        b"id_planning;id_beneficiaire;type;date_debut;date_fin\r\n"
        b"ABS001;BEN001;hospitalisation;2026-11-20;2026-12-04\r\n"
        b"ABS002;BEN002;deces;2026-11-22;\r\n"
    ),
    "interventions_prevues_20261124.csv": render(
        formats.PLANNED,
        [
            planned_row("PV001"),
            planned_row("PV002", debut="2026-11-24 14:00", fin="2026-11-24 15:00"),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(INPUT_EXAMPLES))
def test_input_examples_are_golden(name: str) -> None:
    assert (GOLDEN / name).read_bytes() == INPUT_EXAMPLES[name]


def test_input_examples_import_cleanly(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    world(session)
    for name in (
        "intervenants_20261123.csv",
        "beneficiaires_20261123.csv",
        "absences_20261123.csv",
        "interventions_prevues_20261124.csv",
    ):
        report = import_file(session_factory, GOLDEN / name, tmp_path)
        assert (report.rejected, report.refused, report.created) == (0, "", 2)


def test_every_format_has_an_up_to_date_page() -> None:
    pages = docs.pages(GOLDEN)
    assert set(pages) == {"conventions.md"} | {f"{fmt.key}.md" for fmt in formats.ALL_FORMATS}
    for name, text in pages.items():
        path = ROOT / "docs" / "flows" / name
        assert path.read_text(encoding="utf-8") == text, (
            f"run: python -m flows.docs docs/flows tests/flows/golden ({name})"
        )
