"""A statistics report as CSV, XLSX or PDF: the customer's "format standardisé".

Every file starts with the same heading: the organisation, the state, the
period, the filters and when it was produced (Europe/Paris). Each file is
written piece by piece and sent as it is written (``Iterator[bytes]``): the
CSV row by row, the XLSX and the PDF from a spooled temporary file in chunks,
so a year of visits does not sit twice in memory as text.

* CSV for French Excel: semicolons, UTF-8 with a byte-order mark, decimal
  comma, dates as dd/mm/yyyy; the tables one after the other, each under its
  caption.
* XLSX (decision 0321, its XML written directly since 2026-12-07): one sheet
  per table, typed cells: integers, hours as durations ``[h]:mm``,
  percentages, dates and Paris times as dates; text always as text (inline
  strings).
* PDF (reportlab): A4 landscape, the heading, the charts (the same drawings
  as the page, ``charts.drawing``) and the tables, page numbers.

Text cells go through ``cells.safe_text``: no cell starts with a formula sign.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
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


#: The workbook's cell styles (``styles.xml``'s ``cellXfs``): 0 plain, 1 bold text, then
#: one per number format, with its id (164 and up: the formats Excel does not number).
_XLSX_NUMBER_FORMATS = ("0", "[h]:mm", "0.0%", "dd/mm/yyyy", "dd/mm/yyyy hh:mm")
_XLSX_FORMAT_IDS = {"0": 1, "[h]:mm": 164, "0.0%": 165, "dd/mm/yyyy": 166, "dd/mm/yyyy hh:mm": 167}
_XLSX_STYLE = {fmt: 2 + i for i, fmt in enumerate(_XLSX_NUMBER_FORMATS)}
_EXCEL_EPOCH = datetime(1899, 12, 30)
_XML_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        **{chr(c): "" for c in range(32) if c not in (9, 10, 13)},
    }
)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_text(ref: str, text: str, style: int = 0) -> str:
    shown = cells.safe_text(text).translate(_XML_ESCAPES)
    styled = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{styled}><is><t xml:space="preserve">{shown}</t></is></c>'


def _xlsx_cell(ref: str, value: Value, kind: Kind) -> str:
    """One typed cell: integers, hours as durations, percentages, dates and Paris times as
    dates; any other value as text, never a formula."""
    if value is None:
        return ""
    number: float | int
    if kind is Kind.HOURS and isinstance(value, int) and not isinstance(value, bool):
        number, default = value / 1440, None
    elif kind is Kind.PERCENT and isinstance(value, int | float) and not isinstance(value, bool):
        number, default = float(value) / 100, None
    elif isinstance(value, datetime):
        # Excel has no time zones: the Paris wall time people read.
        moment = to_paris(value).replace(tzinfo=None)
        number, default = (moment - _EXCEL_EPOCH) / timedelta(days=1), Kind.DATETIME
    elif isinstance(value, date):
        number, default = (value - _EXCEL_EPOCH.date()).days, Kind.DATE
    elif isinstance(value, timedelta):
        number, default = value / timedelta(days=1), Kind.DELAY
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number, default = value, None
    else:
        return _xlsx_text(ref, str(value))
    fmt = XLSX_FORMATS.get(kind) or (XLSX_FORMATS[default] if default else None)
    styled = f' s="{_XLSX_STYLE[fmt]}"' if fmt else ""
    return f'<c r="{ref}"{styled}><v>{number!r}</v></c>'


_XLSX_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _xlsx_styles() -> str:
    formats = "".join(
        f'<numFmt numFmtId="{_XLSX_FORMAT_IDS[f]}" formatCode="{f}"/>'
        for f in _XLSX_NUMBER_FORMATS
        if _XLSX_FORMAT_IDS[f] >= 164
    )
    numbered = "".join(
        f'<xf numFmtId="{_XLSX_FORMAT_IDS[f]}" fontId="0" fillId="0" borderId="0" '
        f'xfId="0" applyNumberFormat="1"/>'
        for f in _XLSX_NUMBER_FORMATS
    )
    return (
        f'{_XLSX_HEAD}<styleSheet xmlns="{_MAIN}"><numFmts count="4">{formats}</numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        f'</cellStyleXfs><cellXfs count="{2 + len(_XLSX_NUMBER_FORMATS)}">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        f'{numbered}</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" '
        'builtinId="0"/></cellStyles></styleSheet>'
    )


def _xlsx_sheet(table: Table, heading: Heading, out: IO[bytes]) -> None:
    """The sheet's XML, written a few hundred rows at a time."""
    letters = [_column_letter(i) for i in range(max(2, len(table.columns)))]
    kinds = [c.kind for c in table.columns]
    lines = [f'{_XLSX_HEAD}<worksheet xmlns="{_MAIN}"><sheetData>']
    r = 0

    def row(cells_xml: str) -> None:
        lines.append(f'<row r="{r}">{cells_xml}</row>')

    for name, value in heading.lines():
        r += 1
        row(_xlsx_text(f"A{r}", name, 1) + _xlsx_text(f"B{r}", value))
    r += 2
    row(_xlsx_text(f"A{r}", table.caption, 1))
    r += 1
    row("".join(_xlsx_text(f"{letters[i]}{r}", c.label, 1) for i, c in enumerate(table.columns)))
    for values in (*table.rows, *([table.total] if table.total else [])):
        r += 1
        row(
            "".join(
                _xlsx_cell(f"{letters[i]}{r}", value, kinds[i])
                for i, value in enumerate(values.values)
            )
        )
        if len(lines) >= 500:
            out.write("".join(lines).encode())
            lines.clear()
    lines.append("</sheetData></worksheet>")
    out.write("".join(lines).encode())


def write_xlsx(report: Report, heading: Heading, target: IO[bytes]) -> None:
    """The workbook's XML written directly (no cell object per value: a year's 28,000
    incomplete calls took 14 s of CPU through openpyxl's cells)."""
    used: set[str] = set()
    tables = _tables(report)
    if not tables:
        tables = [Table("vide", report.prompt or report.title, (Column(""),), [])]
    titles = [_sheet_title(t.caption, used) for t in tables]
    n = len(tables)
    sheet_types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    content_types = (
        f'{_XLSX_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main'
        '+xml"/><Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{sheet_types}</Types>"
    )
    root_rels = (
        f'{_XLSX_HEAD}<Relationships xmlns="{_PACKAGE_RELS}"><Relationship Id="rId1" '
        f'Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    sheets = "".join(
        f'<sheet name="{title.translate(_XML_ESCAPES).replace(chr(34), "&quot;")}" '
        f'sheetId="{i}" r:id="rId{i}"/>'
        for i, title in enumerate(titles, 1)
    )
    workbook = (
        f'{_XLSX_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}"><sheets>{sheets}</sheets>'
        "</workbook>"
    )
    workbook_rels = (
        f'{_XLSX_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_RELS}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", content_types)
        book.writestr("_rels/.rels", root_rels)
        book.writestr("xl/workbook.xml", workbook)
        book.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        book.writestr("xl/styles.xml", _xlsx_styles())
        for i, table in enumerate(tables, 1):
            with book.open(f"xl/worksheets/sheet{i}.xml", "w") as out:
                _xlsx_sheet(table, heading, out)


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
