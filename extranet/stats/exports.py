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
  as the page, ``charts.drawing``) and the tables, page numbers. The tables
  are our own flowable (``_grid_flowable``), not reportlab's: a year's 28,700
  rows in seconds (``bench/extranet/pdf.py``).

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
from extranet.stats.report import Column, Kind, Report, Table, Value
from ledger.collector import without_cyclic_gc
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
        n = len(writers)
        for first in range(0, len(rows), 1000):
            values = [row.values for row in rows[first : first + 1000]]
            # A column at a time (map, no call a cell), the lines joined from the columns;
            # fields already quoted: a line is a join (csv.writer took a third of the time).
            fields = [
                w(column) for w, column in zip(writers, zip(*values, strict=True), strict=True)
            ]
            lines = list(map(";".join, zip(*fields, strict=True))) if n else [""] * len(values)
            if n <= 1:
                # csv.writer's one empty field: quoted, not an empty line.
                lines = [line or '""' for line in lines]
            lines.append("")
            out.write("\r\n".join(lines))
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
    return cells.memo(cell)  # type: ignore[arg-type]


#: Types whose cells are never text (``_xlsx_writer``: numbers, dates, durations, empty);
#: ``bool`` is not one of them (written as text), nor a subclass of ``int``.
_NOT_TEXT = frozenset({type(None), int, float, date, datetime, timedelta})


def _xlsx_body(
    book: xlsx.Book, table: Table, writers: list[Callable[[Value], str]]
) -> Iterator[str]:
    """The table's rows' cells, computed a column at a time (``map`` over a column: a
    year of visits is 5.5 million cells, and a list and a ``zip`` a row cost more than
    the cells), with the shared strings numbered as a row by row writer numbers them
    (in the order first met, row after row): each text column's distinct values are
    written first in the order of their first cell (row, then column), so the file is
    the same, byte for byte."""
    if not table.rows:
        return iter(())
    # Without the cyclic collector: it walked the year's rows and columns (tuples) again
    # and again as the cells were made (with it, a column at a time saved 0.2 s of the
    # writer's 3.35 s of CPU; without, 0.8 s).
    with without_cyclic_gc():
        columns = list(zip(*(row.values for row in table.rows), strict=True))
        firsts: list[tuple[int, int, Value]] = []
        for c, column in enumerate(columns):
            types = set(map(type, column))
            if types <= _NOT_TEXT:
                continue  # no text cell, no shared string to number
            # Each value's first row: reversed, a later (smaller) row overwrites. Keyed
            # by type too where types mix: True == 1 to a dict, not to the writer.
            rows = range(len(column) - 1, -1, -1)
            if len(types - {type(None)}) > 1:
                keys = zip(map(type, reversed(column)), reversed(column), strict=True)
                typed = dict(zip(keys, rows, strict=True))
                firsts.extend((row, c, value) for (_t, value), row in typed.items())
            else:
                first_row = dict(zip(reversed(column), rows, strict=True))
                firsts.extend((row, c, value) for value, row in first_row.items())
        firsts.sort(key=lambda found: (found[0], found[1]))
        for _row, c, value in firsts:
            writers[c](value)  # numbers the value's text, as its first cell would
        cells_by_column = [
            list(map(write, column)) for column, write in zip(columns, writers, strict=True)
        ]
    return map("".join, zip(*cells_by_column, strict=True))


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
        yield from _xlsx_body(book, table, writers)
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


#: Rows per part of a long table, each part under its caption ("(suite)" after the first).
PDF_ROWS = 400
#: A table cell's padding, left and right (as reportlab's tables: 6 points).
PDF_PADDING = 6
#: A cell's padding above and below its lines (reportlab's: 3 points).
PDF_PADDING_Y = 3
#: The cells' font size; the lines' leading (reportlab's tables: 1.2 times the size).
PDF_SIZE = 7
PDF_LEADING = 8.4
#: The header's leading (a bold paragraph's, as before).
PDF_HEADER_LEADING = 8.5


def pdf_lines(text: str, width_of: Callable[[str], float], fits: float) -> list[str]:
    """``text`` cut between its words into lines no wider than ``fits``; a word wider
    than ``fits`` alone is cut between its characters (as a paragraph cuts it)."""
    if width_of(text) <= fits:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split():
        longer = f"{line} {word}" if line else word
        if width_of(longer) <= fits:
            line = longer
            continue
        if line:
            lines.append(line)
        line = word
        while width_of(line) > fits and len(line) > 1:
            cut = 1
            while cut < len(line) - 1 and width_of(line[: cut + 1]) <= fits:
                cut += 1
            lines.append(line[:cut])
            line = line[cut:]
    lines.append(line)
    return lines


class _Encoder:
    """A TrueType font's texts as PDF text operators, each string encoded once.

    reportlab's ``drawString`` encodes a text char by char into the font's subsets
    and escapes it on every call: most of the time of a long table. Here each
    character's code is asked of the font once (``splitString``, so the PDF's
    subsets are reportlab's own), and a text of the first subset's characters is
    one ``str.translate``. ``ops(text)`` draws at the text position with this
    font's first subset current (``select``); a text with characters of other
    subsets switches and comes back."""

    class _Codes(dict[int, str]):
        def __init__(self, encoder: _Encoder) -> None:
            super().__init__()
            self.encoder = encoder

        def __missing__(self, code: int) -> str:
            from reportlab.lib.rl_accel import escapePDF

            ((subset, chunk),) = self.encoder.font.splitString(chr(code), self.encoder.doc)
            if subset:
                raise LookupError(code)
            self[code] = escaped = escapePDF(chunk)
            return escaped

    def __init__(self, font_name: str, doc: Any) -> None:
        from reportlab.pdfbase.pdfmetrics import getFont

        self.font = getFont(font_name)
        self.doc = doc
        self.simple = not hasattr(self.font, "splitString")
        self.codes = _Encoder._Codes(self)
        if self.simple:  # a standard font (Helvetica): one encoding, no subsets
            internal = doc.getInternalFontName(font_name)
            self.select = f"{internal} {PDF_SIZE} Tf"
        else:
            self.select = f"{self.subset_font(0)} {PDF_SIZE} Tf"
        self.memo: dict[str, str] = {}

    def subset_font(self, subset: int) -> str:
        return str(self.font.getSubsetInternalName(subset, self.doc))

    def ops(self, text: str) -> str:
        found = self.memo.get(text)
        if found is not None:
            return found
        from reportlab.lib.rl_accel import escapePDF

        if self.simple:
            found = f"({escapePDF(text.encode('cp1252', 'replace'))}) Tj"
        else:
            try:
                found = f"({text.translate(self.codes)}) Tj"
            except LookupError:
                found = (
                    " ".join(
                        f"{self.subset_font(subset)} {PDF_SIZE} Tf ({escapePDF(chunk)}) Tj"
                        for subset, chunk in self.font.splitString(text, self.doc)
                    )
                    + f" {self.select}"
                )
        if len(self.memo) < 50_000:
            self.memo[text] = found
        return found


class _Cut(list[str]):
    """A cell's lines with a word cut: a paragraph's leading (``PDF_HEADER_LEADING``)."""


@dataclass
class _GridRow:
    #: Each cell's lines.
    cells: list[list[str]]
    height: float
    bold: bool = False


class _Texts:
    """Cells' lines and widths, each distinct text measured and cut once per document."""

    def __init__(self, regular: str, bold: str) -> None:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        self.fonts = (regular, bold)
        self.widths: tuple[dict[str, float], dict[str, float]] = ({}, {})
        self.cut: dict[tuple[str, float, bool], list[str]] = {}
        self.string_width = stringWidth
        self._encoders: tuple[Any, _Encoder, _Encoder] | None = None

    def encoders(self, doc: Any) -> tuple[_Encoder, _Encoder]:
        """The regular and the bold font's encoders for the document being drawn."""
        if self._encoders is None or self._encoders[0] is not doc:
            self._encoders = (doc, _Encoder(self.fonts[0], doc), _Encoder(self.fonts[1], doc))
        return self._encoders[1], self._encoders[2]

    def width(self, text: str, bold: bool = False) -> float:
        widths = self.widths[bold]
        found = widths.get(text)
        if found is None:
            found = widths[text] = self.string_width(text, self.fonts[bold], PDF_SIZE)
        return found

    def lines(self, text: str, fits: float, bold: bool = False) -> list[str]:
        """``text``'s lines; a ``_Cut`` (lines a paragraph's leading apart, as reportlab's
        ``Paragraph`` drew them) if a word of it is wider than ``fits``."""
        key = (text, fits, bold)
        found = self.cut.get(key)
        if found is None:
            found = pdf_lines(text, lambda t: self.width(t, bold), fits)
            if len(found) > 1 and any(self.width(w, bold) > fits for w in text.split()):
                found = _Cut(found)
            if len(self.cut) < 50_000:
                self.cut[key] = found
        return found


def _grid_flowable() -> type:
    """``_Grid``'s class, made when reportlab is imported (it is imported lazily)."""
    from reportlab.platypus.flowables import Flowable

    class Grid(Flowable):  # type: ignore[misc]
        """A table drawn straight on the canvas: its header on every page, its rows
        cut between pages (``split``), each row's height from its lines (as
        reportlab's table, with none of its per cell machinery)."""

        def __init__(
            self,
            header: _GridRow,
            rows: list[_GridRow],
            widths: list[float],
            right: list[bool],
            texts: _Texts,
        ) -> None:
            super().__init__()
            # Centred on the frame, as reportlab's tables (this one is as wide as the
            # frame's width without its padding: 6 points out on each side).
            self.hAlign = "CENTER"
            self.header, self.rows, self.widths = header, rows, widths
            self.right, self.texts = right, texts
            self.width = sum(widths)
            self.height = header.height + sum(r.height for r in rows)

        def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
            return self.width, self.height

        def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
            used = self.header.height
            n = 0
            for row in self.rows:
                if used + row.height > availHeight + 1e-6:
                    break
                used += row.height
                n += 1
            if n == 0 or n == len(self.rows):
                return [] if n == 0 else [self]
            make = type(self)
            return [
                make(self.header, self.rows[:n], self.widths, self.right, self.texts),
                make(self.header, self.rows[n:], self.widths, self.right, self.texts),
            ]

        def draw(self) -> None:
            canvas = self.canv
            texts = self.texts
            encoders = texts.encoders(canvas._doc)
            lefts: list[float] = []
            x = 0.0
            for w in self.widths:
                lefts.append(x)
                x += w
            width = self.width
            code: list[str] = []
            lines: list[str] = []
            top = self.height
            # The header's background.
            code.append(
                f"q 0.910 0.925 0.949 rg 0 {top - self.header.height:.3f} "
                f"{width:.3f} {self.header.height:.3f} re f Q"
            )
            code.append(f"BT 0 g {encoders[1].select}")
            current = 1
            for i, row in enumerate([self.header, *self.rows]):
                bold = 1 if row.bold or i == 0 else 0
                encoder = encoders[bold]
                if bold != current:
                    code.append(encoder.select)
                    current = bold
                leading = PDF_HEADER_LEADING if i == 0 else PDF_LEADING
                first = top - PDF_PADDING_Y - PDF_SIZE
                for j, cell in enumerate(row.cells):
                    y = first
                    step = PDF_HEADER_LEADING if type(cell) is _Cut else leading
                    for line in cell:
                        if line:
                            if i and self.right[j]:
                                x = lefts[j] + self.widths[j] - PDF_PADDING
                                x -= texts.width(line, bool(bold))
                            else:
                                x = lefts[j] + PDF_PADDING
                            code.append(f"1 0 0 1 {x:.3f} {y:.3f} Tm {encoder.ops(line)}")
                        y -= step
                top -= row.height
                lines.append(f"0 {top:.3f} m {width:.3f} {top:.3f} l")
            code.append("ET")
            code.append("q 0.25 w 0.690 0.690 0.690 RG")
            code.extend(lines)
            code.append("S Q")
            # The page's rows as PDF operators (reportlab's public way to add them), in their
            # own graphics state: the font and colours set here end with them.
            canvas.addLiteral("q\n" + "\n".join(code) + "\nQ")

    return Grid


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


def pdf_cut_note(table: Table) -> str:
    """The first page's sentence of a PDF that lists only a table's first rows."""
    return (
        f"Ce PDF liste les {_thousands(table.pdf_limit or 0)} premières lignes sur "
        f"{_thousands(table.rows_in_all)} ; le total porte sur toutes les lignes. "
        "Les fichiers CSV et XLSX de cet état contiennent toutes les lignes."
    )


def write_pdf(report: Report, heading: Heading, target: IO[bytes]) -> None:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer
    from reportlab.platypus.flowables import Flowable

    regular, bold = _fonts()
    texts = _Texts(regular, bold)
    Grid = _grid_flowable()
    screen_text = cells.screen_text

    def grid_height(lines: list[list[str]], leading: float) -> float:
        return (
            max(len(c) * (PDF_HEADER_LEADING if type(c) is _Cut else leading) for c in lines)
            + 2 * PDF_PADDING_Y
        )

    def grid_row(lines: list[list[str]], bold: bool = False) -> _GridRow:
        return _GridRow(lines, grid_height(lines, PDF_LEADING), bold)

    text = ParagraphStyle("texte", fontName=regular, fontSize=8, leading=10)
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
        # ``rows_in_all``: a report built for its PDF holds only the rows the PDF lists.
        if table.pdf_limit is not None and table.rows_in_all > table.pdf_limit:
            listed = listed[: table.pdf_limit]
            story += [Spacer(1, 8), Paragraph(escape(pdf_cut_note(table)), text)]
        rows = [*listed, *([table.total] if table.total else [])]
        n_columns = len(table.columns)
        column_width = width / n_columns
        fits = column_width - 2 * PDF_PADDING
        header = grid_row([texts.lines(c.label, fits, bold=True) for c in table.columns], True)
        header.height = grid_height(header.cells, PDF_HEADER_LEADING)
        kinds = [(c.kind.value, c.kind.numeric) for c in table.columns]
        right = [numeric for _kind, numeric in kinds]
        grid_rows = [
            grid_row(
                [
                    [shown] if numeric else texts.lines(shown, fits)
                    for shown, numeric in [
                        (screen_text(v, kind), numeric)
                        for v, (kind, numeric) in zip(row.values, kinds, strict=True)
                    ]
                ]
            )
            for row in rows
        ]
        if table.total and grid_rows:
            grid_rows[-1].bold = True
        if not grid_rows:
            # The sentence as a paragraph was (its leading).
            empty = _Cut(texts.lines(table.empty, fits))
            grid_rows = [grid_row([empty] + [[""]] * (n_columns - 1))]
        parts = [grid_rows[i : i + PDF_ROWS] for i in range(0, len(grid_rows), PDF_ROWS)]
        for n, part in enumerate(parts):
            grid = Grid(header, part, [column_width] * n_columns, right, texts)
            caption = Paragraph(
                escape(table.caption if n == 0 else f"{table.caption} (suite)"), subtitle
            )
            # A short table with its caption on one page; a long one starts under it.
            story += [KeepTogether([caption, grid])] if len(part) < 30 else [caption, grid]
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
