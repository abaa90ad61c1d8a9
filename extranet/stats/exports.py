"""A statistics report as CSV, XLSX or PDF: the customer's "format standardisé".

Every file starts with the same heading: the organisation, the state, the
period, the filters and when it was produced (Europe/Paris). Each file is
written piece by piece and sent as it is written (``Iterator[bytes]``): the
CSV row by row, the XLSX and the PDF from a spooled temporary file in chunks,
so a year of visits does not sit twice in memory as text.

* CSV for French Excel: semicolons, UTF-8 with a byte-order mark, decimal
  comma, dates as dd/mm/yyyy; the tables one after the other, each under its
  caption.
* XLSX (``extranet.stats.xlsx``, our minimal streaming writer, decision 0324):
  one sheet per table, typed cells: integers, hours as durations ``[h]:mm``,
  percentages, dates and Paris times as dates; text always as shared strings.
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

from extranet.stats import cells, xlsx
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
        lines: list[str] = []
        for row in rows:
            # Fields already quoted: a line is a join (csv.writer took a third of the time).
            line = ";".join([w(v) for w, v in zip(writers, row.values, strict=True)])
            # csv.writer's one empty field: quoted, not an empty line.
            lines.append(line if line or len(writers) > 1 else '""')
            if len(lines) == 1000:
                lines.append("")
                out.write("\r\n".join(lines))
                lines.clear()
                yield flush()
        if lines:
            lines.append("")
            out.write("\r\n".join(lines))
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


def _xlsx_writer(book: xlsx.Book, kind: Kind) -> Callable[[Value], str]:
    """One column's cells: ``value`` -> its XML, typed as ``XLSX_FORMATS`` says."""
    fmt = XLSX_FORMATS.get(kind)

    def number(value: float | int, style_format: str | None) -> str:
        style = book.style(style_format) if style_format else 0
        s = f' s="{style}"' if style else ""
        return f"<c{s}><v>{xlsx._number(value)}</v></c>"

    def cell(value: Value) -> str:
        if value is None:
            return "<c/>"
        if kind is Kind.HOURS and type(value) is int:
            return number(xlsx.serial(timedelta(minutes=value)), fmt)
        if kind is Kind.PERCENT and isinstance(value, int | float) and not isinstance(value, bool):
            return number(float(value) / 100, fmt)
        if isinstance(value, datetime):
            # Excel has no time zones: the Paris wall time people read.
            return number(
                xlsx.serial(to_paris(value).replace(tzinfo=None)),
                fmt or XLSX_FORMATS[Kind.DATETIME],
            )
        if isinstance(value, date):
            return number(xlsx.serial(value), fmt or XLSX_FORMATS[Kind.DATE])
        if isinstance(value, timedelta):
            return number(xlsx.serial(value), fmt or XLSX_FORMATS[Kind.DELAY])
        if isinstance(value, int | float) and not isinstance(value, bool):
            return number(value, fmt)
        # Text, always a shared string: never a formula, whatever it starts with.
        return book.text_cell(cells.safe_text(str(value)))

    if kind in (Kind.INT, Kind.MINUTES) and fmt:
        # Most of a year's cells: integers, the shortest way.
        head = f'<c s="{book.style(fmt)}"><v>'
        return lambda value: f"{head}{value}</v></c>" if type(value) is int else cell(value)
    return xlsx.memo(cell)  # type: ignore[arg-type]


def write_xlsx(report: Report, heading: Heading, target: IO[bytes]) -> None:
    book = xlsx.Book(target, sorted(set(XLSX_FORMATS.values())))
    bold = book.style(bold=True)
    used: set[str] = set()
    tables = _tables(report)
    if not tables:
        tables = [Table("vide", report.prompt or report.title, (Column(""),), [])]

    def rows(table: Table) -> Iterator[str]:
        for name, value in heading.lines():
            yield book.text_cell(cells.safe_text(name), bold) + book.text_cell(
                cells.safe_text(value)
            )
        yield ""
        yield book.text_cell(cells.safe_text(table.caption), bold)
        yield "".join(book.text_cell(cells.safe_text(c.label), bold) for c in table.columns)
        writers = [_xlsx_writer(book, c.kind) for c in table.columns]
        for row in table.rows:
            yield "".join([w(v) for w, v in zip(writers, row.values, strict=True)])
        if table.total:
            yield "".join([w(v) for w, v in zip(writers, table.total.values, strict=True)])

    for table in tables:
        book.sheet(_sheet_title(table.caption, used), rows(table))
    book.close()


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


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


def pdf_cut_note(table: Table) -> str:
    """The first page's sentence of a PDF that lists only a table's first rows."""
    return (
        f"Ce PDF liste les {_thousands(table.pdf_limit or 0)} premières lignes sur "
        f"{_thousands(len(table.rows))} ; le total porte sur toutes les lignes. "
        "Les fichiers CSV et XLSX de cet état contiennent toutes les lignes."
    )


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
        listed = table.rows
        if table.pdf_limit is not None and len(listed) > table.pdf_limit:
            listed = listed[: table.pdf_limit]
            story += [Spacer(1, 8), Paragraph(escape(pdf_cut_note(table)), text)]
        rows = [*listed, *([table.total] if table.total else [])]
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
