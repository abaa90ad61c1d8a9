"""A statistics report as CSV, XLSX or PDF: the customer's "format standardisé".

Every file starts with the same heading: the organisation, the state, the
period, the filters and when it was produced (Europe/Paris). Each file is
written piece by piece and sent as it is written (``Iterator[bytes]``): the
CSV row by row, the XLSX and the PDF from a spooled temporary file in chunks,
so a year of visits does not sit twice in memory as text.

* CSV for French Excel: semicolons, UTF-8 with a byte-order mark, decimal
  comma, dates as dd/mm/yyyy; the tables one after the other, each under its
  caption.
* XLSX (openpyxl's write-only mode, decision 0321): one sheet per table, typed
  cells: integers, hours as durations ``[h]:mm``, percentages, dates and
  Paris times as dates; text always as text.
* PDF (reportlab): A4 landscape, the heading, the charts (the same drawings
  as the page, ``charts.drawing``) and the tables, page numbers.

Text cells go through ``cells.safe_text``: no cell starts with a formula sign.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from extranet.stats import cells
from extranet.stats.charts import drawing
from extranet.stats.report import Column, Kind, Report, Row, Table, Value
from ledger.timeutil import to_paris

CHUNK = 64 * 1024
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Heading:
    organisation: str
    state: str
    period: str
    #: (filter name, value as read) in the order shown.
    filters: list[tuple[str, str]]
    produced_at: datetime

    def lines(self) -> list[tuple[str, str]]:
        found = [
            ("Organisation", self.organisation),
            ("État", self.state),
            ("Période", self.period),
        ]
        found += self.filters
        found.append(("Produit le", cells.screen_text(self.produced_at, "datetime")))
        return found


def _tables(report: Report) -> list[Table]:
    """The report's tables, then each chart's data table."""
    return [*report.tables, *(chart.table() for chart in report.charts)]


def _cells(table: Table, row: Row) -> list[tuple[Value, Column]]:
    return list(zip(row.values, table.columns, strict=True))


# --- CSV ---------------------------------------------------------------------------------


def csv_chunks(report: Report, heading: Heading) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")

    def flush() -> bytes:
        data = out.getvalue().encode("utf-8")
        out.seek(0)
        out.truncate()
        return data

    out.write("\ufeff")
    for name, value in heading.lines():
        writer.writerow([cells.safe_text(name), cells.safe_text(value)])
    if report.prompt:
        writer.writerow([cells.safe_text(report.prompt)])
    yield flush()
    for table in _tables(report):
        writer.writerow([])
        writer.writerow([cells.safe_text(table.caption)])
        writer.writerow([cells.safe_text(c.label) for c in table.columns])
        rows = [*table.rows, *([table.total] if table.total else [])]
        # Once a table, not once a cell: a year's visits are five million cells.
        writers = [cells.csv_writer_of(c.kind.value) for c in table.columns]
        for i, row in enumerate(rows, 1):
            writer.writerow([w(v) for w, v in zip(writers, row.values, strict=True)])
            if i % 500 == 0:
                yield flush()
        yield flush()


# --- XLSX --------------------------------------------------------------------------------

XLSX_FORMATS = {
    Kind.INT: "0",
    Kind.MINUTES: "0",
    Kind.HOURS: "[h]:mm",
    Kind.PERCENT: "0.0%",
    Kind.DATE: "dd/mm/yyyy",
    Kind.DATETIME: "dd/mm/yyyy hh:mm",
    Kind.DELAY: "[h]:mm",
}


def _sheet_title(caption: str, used: set[str]) -> str:
    clean = "".join(" " if ch in "[]:*?/\\'" else ch for ch in caption).strip() or "Tableau"
    title = clean[:28]
    n = 2
    while title.lower() in used:
        title = f"{clean[:25]} {n}"
        n += 1
    used.add(title.lower())
    return title


def _xlsx_cell(sheet: object, value: Value, kind: Kind) -> object:
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return WriteOnlyCell(sheet, value=None)  # type: ignore[arg-type]
    if kind is Kind.HOURS and isinstance(value, int):
        cell = WriteOnlyCell(sheet, value=timedelta(minutes=value))  # type: ignore[arg-type]
    elif kind is Kind.PERCENT and isinstance(value, int | float):
        cell = WriteOnlyCell(sheet, value=float(value) / 100)  # type: ignore[arg-type]
    elif isinstance(value, datetime):
        # Excel has no time zones: the Paris wall time people read.
        cell = WriteOnlyCell(sheet, value=to_paris(value).replace(tzinfo=None))  # type: ignore[arg-type]
    elif isinstance(value, date | timedelta | int | float) and not isinstance(value, bool):
        cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
    else:
        cell = WriteOnlyCell(sheet, value=cells.safe_text(str(value)))  # type: ignore[arg-type]
        cell.data_type = "s"  # never a formula, whatever the text
        return cell
    if kind in XLSX_FORMATS:
        cell.number_format = XLSX_FORMATS[kind]
    elif isinstance(value, datetime):
        cell.number_format = XLSX_FORMATS[Kind.DATETIME]
    elif isinstance(value, date):
        cell.number_format = XLSX_FORMATS[Kind.DATE]
    return cell


def _text_cell(sheet: object, text: str, bold: bool = False) -> object:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cell = WriteOnlyCell(sheet, value=cells.safe_text(text))  # type: ignore[arg-type]
    cell.data_type = "s"
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_xlsx(report: Report, heading: Heading, target: IO[bytes]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    used: set[str] = set()
    tables = _tables(report)
    if not tables:
        tables = [Table("vide", report.prompt or report.title, (Column(""),), [])]
    for table in tables:
        sheet = book.create_sheet(_sheet_title(table.caption, used))
        for name, value in heading.lines():
            sheet.append([_text_cell(sheet, name, bold=True), _text_cell(sheet, value)])
        sheet.append([])
        sheet.append([_text_cell(sheet, table.caption, bold=True)])
        sheet.append([_text_cell(sheet, c.label, bold=True) for c in table.columns])
        for row in table.rows:
            sheet.append([_xlsx_cell(sheet, v, c.kind) for v, c in _cells(table, row)])
        if table.total:
            sheet.append([_xlsx_cell(sheet, v, c.kind) for v, c in _cells(table, table.total)])
    book.save(target)


# --- PDF ---------------------------------------------------------------------------------

_pdf_font: tuple[str, str] | None = None


def _fonts() -> tuple[str, str]:
    """DejaVu (French accents, Debian's fonts-dejavu-core), else reportlab's Helvetica."""
    global _pdf_font
    if _pdf_font is None:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("StatsSans", str(regular)))
            pdfmetrics.registerFont(TTFont("StatsSans-Bold", str(bold)))
            _pdf_font = ("StatsSans", "StatsSans-Bold")
        else:
            _pdf_font = ("Helvetica", "Helvetica-Bold")
    return _pdf_font


#: Rows per reportlab table: a long table is split so that layout stays linear.
PDF_ROWS = 400
#: reportlab's padding of a table cell, left and right (its default: 6 points).
PDF_PADDING = 6


def pdf_lines(text: str, width_of: Callable[[str], float], fits: float) -> str | None:
    """``text`` cut between its words into lines no wider than ``fits`` (joined by
    newlines, as a table cell draws them); None if a word alone is wider."""
    if width_of(text) <= fits:
        return text
    lines: list[str] = []
    line = ""
    for word in text.split():
        if width_of(word) > fits:
            return None
        longer = f"{line} {word}" if line else word
        if width_of(longer) <= fits:
            line = longer
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return "\n".join(lines)


def write_pdf(report: Report, heading: Heading, target: IO[bytes]) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import (
        KeepTogether,
        LongTable,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )
    from reportlab.platypus.flowables import Flowable

    regular, bold = _fonts()
    text = ParagraphStyle("texte", fontName=regular, fontSize=8, leading=10)
    small = ParagraphStyle("cellule", fontName=regular, fontSize=7, leading=8.5)
    title = ParagraphStyle("titre", fontName=bold, fontSize=15, leading=19, spaceAfter=4)
    subtitle = ParagraphStyle(
        "sous-titre", fontName=bold, fontSize=10, leading=13, spaceBefore=8, spaceAfter=3
    )
    page_size = landscape(A4)
    width = page_size[0] - 24 * mm

    def escape(value: str) -> str:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    footer = f"{heading.organisation} — {heading.state} — {heading.period}"

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.drawString(12 * mm, 8 * mm, footer)
        canvas.drawRightString(page_size[0] - 12 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    story: list[Flowable] = [
        Paragraph(escape(heading.organisation), subtitle),
        Paragraph(escape(report.title), title),
    ]
    for name, value in heading.lines()[1:]:
        story.append(Paragraph(f"<b>{escape(name)}</b> : {escape(value)}", text))
    if report.note:
        story += [Spacer(1, 4), Paragraph(escape(report.note), text)]
    if report.prompt:
        story += [Spacer(1, 8), Paragraph(escape(report.prompt), text)]
    for chart in report.charts:
        d = drawing(chart, width=width, height=75 * mm)
        story += [Spacer(1, 8), d]
    for table in _tables(report):
        rows = [*table.rows, *([table.total] if table.total else [])]
        header = [
            Paragraph(escape(c.label), ParagraphStyle("entete", parent=small, fontName=bold))
            for c in table.columns
        ]
        parts = [rows[i : i + PDF_ROWS] for i in range(0, len(rows), PDF_ROWS)] or [[]]
        column_width = width / len(table.columns)
        # A text is drawn as lines cut between its words (``pdf_lines``); a Paragraph
        # only for a word longer than its column: parsing and wrapping a Paragraph per
        # cell was most of the time of a long table (a year's incomplete calls).
        fits = column_width - 2 * PDF_PADDING

        def cell(value: Value, column: Column, fits: float = fits) -> object:
            shown = cells.screen_text(value, column.kind.value)
            if column.kind.numeric:
                return shown
            lines = pdf_lines(shown, lambda text: stringWidth(text, regular, 7), fits)
            return Paragraph(escape(shown), small) if lines is None else lines

        for n, part in enumerate(parts):
            data = [header] + [[cell(v, c) for v, c in _cells(table, row)] for row in part]
            if not part:
                data.append(
                    [Paragraph(escape(table.empty), small)] + [""] * (len(table.columns) - 1)
                )
            grid = LongTable(
                data, repeatRows=1, colWidths=[width / len(table.columns)] * len(table.columns)
            )
            style = [
                ("FONT", (0, 0), (-1, -1), regular, 7),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf2")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b0b0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
            for i, column in enumerate(table.columns):
                if column.kind.numeric:
                    style.append(("ALIGN", (i, 1), (i, -1), "RIGHT"))
            if table.total and n == len(parts) - 1 and part:
                style.append(("FONT", (0, -1), (-1, -1), bold, 7))
            grid.setStyle(TableStyle(style))
            caption = table.caption if n == 0 else f"{table.caption} (suite)"
            story.append(
                KeepTogether([Paragraph(escape(caption), subtitle), grid])
                if len(part) < 30
                else Paragraph(escape(caption), subtitle)
            )
            if len(part) >= 30:
                story.append(grid)
    doc = SimpleDocTemplate(
        target,
        pagesize=page_size,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"{report.title} — {heading.period}",
        author=heading.organisation,
        subject=heading.state,
        lang="fr-FR",
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)


def file_chunks(write: object, report: Report, heading: Heading) -> Iterator[bytes]:
    """Write with ``write(report, heading, file)`` to a spooled file, then send it in chunks."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        write(report, heading, spool)  # type: ignore[operator]
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk
