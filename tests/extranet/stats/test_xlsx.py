"""Our XLSX writer read back by openpyxl: types, formats, values, no formula, bold headings."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from extranet.stats import exports, xlsx
from extranet.stats.exports import XLSX_FORMATS, Heading, write_xlsx
from extranet.stats.report import Column, Kind, Report, Row, Table, Value

HOSTILE = ["=1+1", "+33 6", "-2", "@SUM(A1)", "\tx", "\rx", 'a "quoted" <b> & co', "x\x01y"]


def _book(report: Report) -> bytes:
    heading = Heading(
        "Org & <Cie>",
        "0 Interventions",
        "année 2025",
        [("Antenne", "=Nord")],
        datetime(2026, 12, 7, 4, 30, tzinfo=UTC),
    )
    out = io.BytesIO()
    write_xlsx(report, heading, out)
    return out.getvalue()


def test_cells_are_typed_formatted_and_never_formulas() -> None:
    columns = tuple(Column(kind.value, kind) for kind in Kind)
    values: dict[Kind, Value] = {
        Kind.TEXT: "texte",
        Kind.INT: 42,
        Kind.MINUTES: -30,
        Kind.HOURS: 90,
        Kind.PERCENT: 12.5,
        Kind.DATE: date(2025, 3, 1),
        Kind.DATETIME: datetime(2025, 7, 1, 6, 15, tzinfo=UTC),
        Kind.DELAY: timedelta(hours=26, minutes=30),
    }
    rows = [Row(tuple(values[k] for k in Kind)), Row(tuple(None for _ in Kind))]
    rows += [Row((text, *(None for _ in list(Kind)[1:]))) for text in HOSTILE]
    table = Table(
        "t", "Tableau [1/2]: *essai*", columns, rows, total=Row(("Total", 1, *[None] * 6))
    )
    data = _book(Report("Essai", "", [table]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        for name in archive.namelist():
            assert b"<f>" not in archive.read(name)
    book = load_workbook(io.BytesIO(data))
    (sheet,) = book.worksheets
    got = list(sheet.iter_rows())
    assert [c.value for c in got[0]][:3] == ["Organisation", "Org & <Cie>", None]
    assert got[0][0].font.b and not got[0][1].font.b
    assert got[3][1].value == "'=Nord"
    header = next(i for i, r in enumerate(got) if r and r[0].value == "text")
    assert all(c.font.b for c in got[header])
    typed = {got[header][i].value: c for i, c in enumerate(got[header + 1])}
    assert typed["text"].value == "texte" and typed["text"].data_type == "s"
    assert typed["int"].value == 42 and typed["int"].number_format == XLSX_FORMATS[Kind.INT]
    assert typed["minutes"].value == -30 and typed["minutes"].data_type == "n"
    assert typed["hours"].value == timedelta(minutes=90)
    assert typed["hours"].number_format == "[h]:mm"
    assert typed["percent"].value == 0.125 and typed["percent"].number_format == "0.0%"
    assert typed["date"].value == datetime(2025, 3, 1)
    assert typed["date"].number_format == "dd/mm/yyyy" and typed["date"].is_date
    # Paris wall time (summer: UTC+2).
    assert typed["datetime"].value == datetime(2025, 7, 1, 8, 15)
    assert typed["datetime"].number_format == "dd/mm/yyyy hh:mm"
    assert typed["delay"].value == timedelta(hours=26, minutes=30)
    assert all(c.value is None for c in got[header + 2])
    texts = [r[0].value for r in got[header + 3 : header + 3 + len(HOSTILE)]]
    assert texts[:6] == ["'" + t for t in HOSTILE[:6]]
    assert texts[6] == HOSTILE[6]
    assert texts[7] == "x_x0001_y" or texts[7] == "x\x01y"
    for row in got:
        for cell in row:
            assert cell.data_type != "f"
    assert [c.value for c in got[-1]][:2] == ["Total", 1]


def test_one_sheet_per_table_with_distinct_titles_and_an_empty_report() -> None:
    columns = (Column("Nom"), Column("Heures", Kind.HOURS))
    tables = [
        Table(f"t{i}", "Même titre : long, très long, plus de trente et un", columns, [])
        for i in range(3)
    ]
    book = load_workbook(io.BytesIO(_book(Report("Essai", "", tables))))
    titles = [s.title for s in book.worksheets]
    assert len(set(titles)) == 3 and all(len(t) <= 31 for t in titles)
    empty = load_workbook(io.BytesIO(_book(Report("Essai", "", [], prompt="Choisissez"))))
    assert list(empty.worksheets[0].iter_rows(values_only=True))[6][0] == "Choisissez"


def test_a_text_that_looks_like_an_escape_is_kept_as_written() -> None:
    # Excel reads "_x0041_" in a cell's text as the escape of "A": the text's own
    # underscore is escaped (_x005F_) so the cell shows what was written.
    table = Table("t", "t", (Column("texte"),), [Row(("code_x0041_ fin",))])
    data = _book(Report("R", "", [table]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = "".join(
            archive.read(name).decode() for name in archive.namelist() if name.endswith(".xml")
        )
    assert "code_x005F_x0041_ fin" in xml
    assert "code_x0041_ fin" not in xml


def _row_by_row(
    book: xlsx.Book, table: Table, writers: list[Callable[[Value], str]]
) -> Iterator[str]:
    """The writer's body as it was, a row at a time: the shared strings numbered as met."""
    for row in table.rows:
        yield "".join([w(v) for w, v in zip(writers, row.values, strict=True)])


def test_cells_written_a_column_at_a_time_give_the_row_by_row_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The shared strings are numbered in the order a row by row writer meets them:
    # texts repeated across columns and rows, first met in a later column of an
    # earlier row, a text and its escaped twin ("=x" is written "'=x"), True beside 1
    # (one key to a dict: True is a text cell, 1 a number), empty cells, days.
    columns = (
        Column("a"),
        Column("b"),
        Column("n", Kind.INT),
        Column("j", Kind.DATE),
        Column("m", Kind.MINUTES),
    )
    values: list[tuple[Value, ...]] = [
        ("Dupont", "Martin", 1, date(2025, 1, 2), 30),
        ("Martin", "=x", 2, date(2025, 1, 2), None),
        ("'=x", "Dupont", "trois", date(2025, 1, 3), 45),
        (None, True, 1, None, 15),  # type: ignore[list-item]
        ("1", 1, True, date(2025, 1, 2), 0),  # type: ignore[list-item]
        ("Zoé", "Zoé", None, date(2025, 1, 4), 60),
    ]
    rows = [Row(v) for v in values] * 3
    table = Table("t", "Lignes", columns, rows, total=Row(("Total", None, 6, None, 150)))
    report = Report("Essai", "", [table, Table("v", "Vide", columns, [])])
    by_column = _book(report)
    monkeypatch.setattr(exports, "_xlsx_body", _row_by_row)
    assert by_column == _book(report)
