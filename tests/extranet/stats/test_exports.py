"""The exports of every state: CSV for French Excel, typed XLSX, PDF with the heading and charts.

Files are read back as their readers would: the CSV with Python's csv module
as Excel splits it (semicolons, UTF-8 with BOM), the XLSX with openpyxl and as
raw sheet XML, the PDF with poppler's pdftotext.
"""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from extranet.stats.exports import Heading, pdf_lines, write_pdf, write_xlsx
from extranet.stats.report import Column, Kind, Report, Row, Table
from extranet.stats.states import STATES
from ledger import service
from ledger.models import Beneficiary
from ledger.pairing import Direction
from tests import factories
from tests.extranet.conftest import NOW, Scenario
from tests.extranet.stats.conftest import csv_sections, logged_in
from tests.ledger.test_service import record

MONTH = "mois=2026-11"
FORMULA = re.compile(r"^[=+\-@\t\r]")


def _query(slug: str) -> str:
    return "annee=2026" if slug == "activite-annuelle" else MONTH


@pytest.fixture
def referent(client: FlaskClient, scenario: Scenario) -> FlaskClient:
    return logged_in(client, "referent")


@pytest.fixture
def hostile(session: Session, scenario: Scenario) -> Beneficiary:
    """A beneficiary whose names, from the planning software, look like formulas."""
    ben = factories.beneficiary(session, scenario.a.antenna)
    ben.last_name = '=HYPERLINK("http://evil.example/","clic")'
    ben.first_name = "+cmd|' /C calc'!A0"
    ben.external_id = "@B-EVIL"
    worker = scenario.a.worker
    start = NOW - timedelta(hours=8)
    for n, (at, direction) in enumerate(
        ((start, Direction.ARRIVAL), (start + timedelta(minutes=90), Direction.DEPARTURE))
    ):
        service.record_call(
            session,
            record(
                f"evil-{n}", at, worker_id=worker.id, beneficiary_id=ben.id, direction=direction
            ),
        )
    session.commit()
    return ben


def test_csv_for_french_excel(referent: FlaskClient, hostile: Beneficiary) -> None:
    response = referent.get(f"/statistiques/beneficiaires.csv?{MONTH}")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="beneficiaires-2026-11.csv"' in response.headers["Content-Disposition"]
    data = response.get_data()
    sections = csv_sections(data)
    heading = dict((row[0], row[1]) for row in sections[""])
    assert heading["Organisation"] == "Paris Domicile"
    assert heading["Période"] == "novembre 2026"
    assert heading["Produit le"] == "20/11/2026 16:00"
    (caption,) = [c for c in sections if c.startswith("Heures par bénéficiaire")]
    header, *rows = sections[caption]
    assert header[-2:] == ["Minutes", "Heures"]
    evil = next(r for r in rows if r[1] == "'@B-EVIL")
    assert evil[0] == "'" + hostile.last_name + " " + hostile.first_name
    assert evil[-2:] == ["90", "1,50"]  # minutes, and decimal hours with a comma
    for row in (r for rows in sections.values() for r in rows):
        for cell in row:
            assert not FORMULA.match(cell), cell


@pytest.mark.parametrize("slug", sorted(STATES))
def test_no_exported_cell_can_become_a_formula(
    referent: FlaskClient, hostile: Beneficiary, slug: str
) -> None:
    query = _query(slug)
    if slug == "planning-beneficiaire":
        query += f"&beneficiaire={hostile.id}"
    csv_data = referent.get(f"/statistiques/{slug}.csv?{query}").get_data()
    for rows in csv_sections(csv_data).values():
        for row in rows:
            for cell in row:
                # A negative number (an écart of the planning) is a typed number, not text.
                assert not FORMULA.match(cell) or re.fullmatch(r"-\d+(,\d+)?", cell), cell
    xlsx = referent.get(f"/statistiques/{slug}.xlsx?{query}").get_data()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets
        for name in sheets:
            assert b"<f>" not in archive.read(name), "no formula in any sheet"
    book = load_workbook(io.BytesIO(xlsx))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not FORMULA.match(cell.value), cell.value


def test_xlsx_cells_are_typed(referent: FlaskClient, scenario: Scenario) -> None:
    response = referent.get(f"/statistiques/interventions.xlsx?{MONTH}")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows())
    assert rows[0][0].value == "Organisation" and rows[0][1].value == "Paris Domicile"
    header = next(i for i, r in enumerate(rows) if r[0].value == "Intervention")
    first = rows[header + 1]
    by_label = {rows[header][i].value: cell for i, cell in enumerate(first)}
    assert isinstance(by_label["Intervention"].value, int)
    assert by_label["Jour"].is_date and by_label["Jour"].number_format == "dd/mm/yyyy"
    assert by_label["Minutes retenues"].data_type == "n"
    hours = referent.get(f"/statistiques/intervenants.xlsx?{MONTH}").get_data()
    sheet = load_workbook(io.BytesIO(hours)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=False))
    header = next(i for i, r in enumerate(rows) if r[0].value == "Intervenant")
    labels = [c.value for c in rows[header]]
    hours_cell = rows[header + 1][labels.index("Heures")]
    assert hours_cell.number_format == "[h]:mm"
    assert hours_cell.value == timedelta(hours=1)  # a duration Excel sums as hours
    rate = referent.get(f"/statistiques/taux-de-correction.xlsx?{MONTH}").get_data()
    sheet = load_workbook(io.BytesIO(rate)).worksheets[0]
    rows = list(sheet.iter_rows())
    header = next(
        i for i, r in enumerate(rows) if len(r) > 3 and r[3].value == "Taux de correction"
    )
    labels = [c.value for c in rows[header]]
    percent = rows[header + 1][labels.index("Taux de correction")]
    assert percent.number_format == "0.0%" and percent.value == 0.0


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "etat.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_pdf_has_the_heading_the_filters_and_the_charts(
    referent: FlaskClient, scenario: Scenario, tmp_path: Path
) -> None:
    a = scenario.a
    response = referent.get(
        f"/statistiques/activite-annuelle.pdf?annee=2026&antenne={a.antenna.id}"
    )
    assert response.mimetype == "application/pdf"
    data = response.get_data()
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data, tmp_path)
    for needle in (
        "Paris Domicile",
        "Synthèse d'activité semestrielle et annuelle",
        "Période : année 2026",
        "Antenne : Antenne NORD",
        "Produit le : 20/11/2026 16:00",
        # The chart drawn (its title and axis labels are text in the PDF), then its table.
        "Heures réalisées par mois et par antenne",
        "nov. 2026",
        "Données du graphique",
        "page 1",
    ):
        assert needle in text, needle
    assert "Antenne SUD" not in text


def test_pdf_of_every_chart_state_draws_its_chart(
    referent: FlaskClient, scenario: Scenario, tmp_path: Path
) -> None:
    for slug, title in (
        ("plans-d-aide", "Plans d'aide : heures autorisées et consommées par mois"),
        ("profil", "Bénéficiaires par tranche d'âge et GIR"),
        ("appels-incomplets", "Appels incomplets dans le temps, par type"),
    ):
        text = _pdf_text(referent.get(f"/statistiques/{slug}.pdf?{MONTH}").get_data(), tmp_path)
        assert text.count(title) >= 2, slug  # the drawing, and its data table's caption


def test_exports_are_audited(referent: FlaskClient, session: Session) -> None:
    from sqlalchemy import select

    from ledger.models import AuditEntry

    referent.get(f"/statistiques/profil.xlsx?{MONTH}&financeur=")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "stats.exported")).one()
    assert entry.actor == "referent" and entry.object_id == "profil"
    assert entry.details["format"] == "xlsx"


def test_pdf_lines_cut_a_text_between_its_words() -> None:
    def width(text: str) -> float:
        return float(len(text))

    assert pdf_lines("Paris Centre", width, 20) == ["Paris Centre"]
    assert pdf_lines("Intervention 9876543", width, 14) == ["Intervention", "9876543"]
    assert pdf_lines("Dupont  Jean Marie", width, 11) == ["Dupont Jean", "Marie"]
    # A word wider than the column: cut between its characters, as a paragraph cuts it.
    assert pdf_lines("Intervention 9876543", width, 10) == ["Interventi", "on 9876543"]
    assert pdf_lines("Le Anticonstitutionnellement", width, 10) == [
        "Le",
        "Anticonsti",
        "tutionnell",
        "ement",
    ]


def test_pdf_cells_wrapped_between_words_or_as_paragraphs_keep_their_text(
    tmp_path: Path,
) -> None:
    columns = tuple(Column(f"Colonne {i}") for i in range(8)) + (Column("N", Kind.INT),)
    long_words = "Anticonstitutionnellement" * 2
    rows = [
        Row(
            ("Intervention 9876543", "Dupont Jean-Marie de la Fontaine", long_words, "<&>")
            + ("",) * 4
            + (i,)
        )
        for i in range(3)
    ]
    report = Report("Appels incomplets", "", [Table("t", "Détail", columns, rows)])
    heading = Heading("Paris Domicile", "Appels incomplets", "année 2025", [], NOW)
    out = io.BytesIO()
    write_pdf(report, heading, out)
    text = _pdf_text(out.getvalue(), tmp_path)
    for needle in ("Intervention", "9876543", "Dupont Jean-Marie", "Fontaine", "<&>"):
        assert needle in text, needle
    assert "Anticonstitutionnel" in text


def test_xlsx_written_directly_reads_back_typed() -> None:
    columns = (
        Column("Texte"),
        Column("Nombre", Kind.INT),
        Column("Heures", Kind.HOURS),
        Column("Taux", Kind.PERCENT),
        Column("Jour", Kind.DATE),
        Column("Le", Kind.DATETIME),
        Column("Délai", Kind.DELAY),
    )
    when = datetime(2025, 7, 1, 6, 30, tzinfo=UTC)  # 08:30 in Paris
    rows = [
        Row(("=SOMME(A1) & <b>\x01", 12, 90, 12.5, date(2025, 7, 1), when, timedelta(hours=30))),
        Row(("", None, None, None, None, None, None)),
    ]
    report = Report("Appels", "", [Table("t", "Détail : [1/2]", columns, rows, total=rows[0])])
    heading = Heading(
        "Paris Domicile", "Appels incomplets", "année 2025", [("Antenne", "NORD")], NOW
    )
    out = io.BytesIO()
    write_xlsx(report, heading, out)
    book = load_workbook(io.BytesIO(out.getvalue()))
    (sheet,) = book.worksheets
    assert sheet.title == "Détail    1 2"
    assert sheet["A1"].value == "Organisation" and sheet["A1"].font.b
    assert sheet["B4"].value == "NORD"
    header = 4 + 1 + 2  # the heading's lines, an empty row, the caption
    assert [c.value for c in sheet[header + 1]] == [c.label for c in columns]
    text, number, hours, rate, day, moment, delay = sheet[header + 2]
    # XML cannot hold U+0001: SpreadsheetML's escape, which Excel reads back as the
    # character (openpyxl leaves it as it is).
    assert (text.value, text.data_type) == ("'=SOMME(A1) & <b>_x0001_", "s")
    assert (number.value, number.number_format) == (12, "0")
    assert hours.number_format == "[h]:mm" and hours.value == timedelta(minutes=90)
    assert (rate.value, rate.number_format) == (0.125, "0.0%")
    assert day.is_date and day.number_format == "dd/mm/yyyy"
    assert day.value == datetime(2025, 7, 1)
    assert moment.value == datetime(2025, 7, 1, 8, 30)
    assert moment.number_format == "dd/mm/yyyy hh:mm"
    assert delay.value == timedelta(hours=30) and delay.number_format == "[h]:mm"
    assert all(c.value is None for c in sheet[header + 3][1:])
    assert [c.value for c in sheet[header + 4]][1] == 12  # the total


CORRECTED = "Corrigée le 05/03/2025 par LEFÈVRE-MARTIN Jean-Baptiste de la Fontaine"


def _long_table_pdf(tmp_path: Path, n: int) -> tuple[list[str], bytes]:
    columns = (
        Column("Date", Kind.DATE),
        Column("Intervenant"),
        Column("Par"),
        Column("Mot"),
        Column("Minutes", Kind.INT),
    )
    rows = [
        Row(
            (
                date(2025, 1, 1) + timedelta(days=i % 365),
                f"Intervention {9_000_000 + i}",
                CORRECTED,
                "Anticonstitutionnellement" * 3,
                100_000 + i,
            )
        )
        for i in range(n)
    ]
    total = Row(("Total", "", "", "", 424242))
    table = Table("t", "Détail des appels", columns, rows, total=total)
    report = Report("Appels incomplets", "", [table])
    heading = Heading("Paris Domicile", "Appels incomplets", "année 2025", [], NOW)
    out = io.BytesIO()
    write_pdf(report, heading, out)
    path = tmp_path / "long.pdf"
    path.write_bytes(out.getvalue())
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f"), out.getvalue()


def test_pdf_long_table_lists_every_row_under_its_header_on_every_page(
    tmp_path: Path,
) -> None:
    pages, _data = _long_table_pdf(tmp_path, 900)
    pages = [p for p in pages if p.strip()]
    text = "\n".join(pages)
    for i in range(900):
        assert f"Intervention {9_000_000 + i}" in text, i
        assert str(100_000 + i) in text, i
    # Every page its header; the parts after 400 rows under "(suite)" captions.
    for page in pages:
        assert re.search(r"Date\s+Intervenant\s+Par\s+Mot\s+Minutes", page), page[:300]
    assert text.count("Détail des appels (suite)") == 2
    # The total row, last; the page count as reportlab's tables gave (rows of 4 lines).
    assert re.search(r"Total\s+.*424242", pages[-1].replace("\n", " "))
    assert 900 / 16 <= len(pages) <= 900 / 8, len(pages)


def test_pdf_long_table_wraps_texts_between_words_and_cuts_long_words(tmp_path: Path) -> None:
    pages, data = _long_table_pdf(tmp_path, 3)
    text = pages[0]
    for word in CORRECTED.split():
        assert text.count(word) >= 3, word
    # Cut onto several lines: no line of the page holds the whole sentence.
    assert "Jean-Baptiste de la Fontaine" not in text
    # The long word, cut between its characters, every piece shown.
    path = tmp_path / "long.pdf"
    path.write_bytes(data)
    raw = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    squeezed = re.sub(r"\s+", "", raw.stdout)
    assert "Anticonstitutionnellement" * 3 in squeezed


def test_pdf_numbers_are_right_aligned(tmp_path: Path) -> None:
    _pages, data = _long_table_pdf(tmp_path, 5)
    path = tmp_path / "long.pdf"
    path.write_bytes(data)
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    right_edges = {
        round(float(m.group(1)), 1)
        for m in re.finditer(r'xMax="([\d.]+)"[^>]*>(?:10000\d|424242)<', html)
    }
    assert len(right_edges) == 1, right_edges  # the numbers end at the same x
