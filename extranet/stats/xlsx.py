"""A minimal streaming XLSX (SpreadsheetML) writer: typed cells, two fonts, a few formats.

What the statistics' files need and nothing more (decision 0324): sheets of rows
written one after the other to a zip stream, shared strings for text, numbers,
dates and durations as serial numbers under a number format, a bold font. Each
cell's XML is remembered by value where values recur (names, days, splits), so a
year of an antenna's visits (5 million cells) is mostly dictionary look-ups and
one ``join`` a row.

Cells carry no ``r`` reference (optional in ECMA-376, 18.3.1.4): a row's cells are
written in column order, an empty one as ``<c/>``. No formula is ever written:
text is a shared string, whatever it starts with.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import IO

#: Deflate level: 1 is four times faster than the default on a year's sheet, 10 % larger.
LEVEL = 1
EPOCH = datetime(1899, 12, 30)
EPOCH_DAY = EPOCH.date()

#: Characters XML 1.0 forbids, written as SpreadsheetML's escapes (_x0001_).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


#: A text's own "_x0041_" (read by Excel as an escape) written as "_x005F_x0041_".
_LITERAL = re.compile("_(?=x[0-9A-Fa-f]{4}_)")


def _escape(text: str) -> str:
    if "_x" in text:
        text = _LITERAL.sub("_x005F_", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;").replace("\r", "&#13;")  # XML reads a bare CR as LF
    return _ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def serial(value: date | datetime | timedelta) -> float | int:
    """A date, a wall time (naive) or a duration as Excel's serial number of days."""
    if isinstance(value, timedelta):
        return value / timedelta(days=1)
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) - EPOCH) / timedelta(days=1)
    return (value - EPOCH_DAY).days


def _number(value: float | int) -> str:
    return repr(value) if type(value) is float else str(value)


class Book:
    """One workbook written to ``target``: ``sheet(title, rows)`` then ``close()``.

    ``formats``: the number formats cells may use, by name; ``style(format, bold)``
    gives a cell style's index for ``Sheet`` writers."""

    def __init__(self, target: IO[bytes], formats: Sequence[str]) -> None:
        self._zip = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=LEVEL)
        self._titles: list[str] = []
        self._strings: dict[str, int] = {}
        self._formats = list(formats)
        # Style 0: plain; 1: bold text; then each format, plain.
        self._styles = {("", False): 0, ("", True): 1}
        for i, fmt in enumerate(self._formats):
            self._styles[(fmt, False)] = 2 + i

    def style(self, fmt: str = "", bold: bool = False) -> int:
        return self._styles[(fmt, bold)]

    def string(self, text: str) -> int:
        """The shared string's index of ``text``."""
        index = self._strings.get(text)
        if index is None:
            index = self._strings[text] = len(self._strings)
        return index

    def text_cell(self, text: str, style: int = 0) -> str:
        s = f' s="{style}"' if style else ""
        return f'<c t="s"{s}><v>{self.string(text)}</v></c>'

    def sheet(self, title: str, rows: Iterable[str]) -> None:
        """A sheet whose rows are ``<row>`` elements' contents (cells' XML, joined)."""
        self._titles.append(title)
        n = len(self._titles)
        with self._zip.open(f"xl/worksheets/sheet{n}.xml", "w", force_zip64=True) as out:
            out.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b"<sheetData>"
            )
            batch: list[str] = []
            for row in rows:
                batch.append(f"<row>{row}</row>")
                if len(batch) == 1000:
                    out.write("".join(batch).encode())
                    batch.clear()
            out.write("".join(batch).encode())
            out.write(b"</sheetData></worksheet>")

    def close(self) -> None:
        z = self._zip
        n = len(self._titles)
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, n + 1)
            )
            + "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        z.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'xmlns:r="{rel}"><sheets>'
            + "".join(
                f'<sheet name="{_escape(title)}" sheetId="{i}" r:id="rId{i}"/>'
                for i, title in enumerate(self._titles, 1)
            )
            + "</sheets></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{rel}/worksheet" '
                f'Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, n + 1)
            )
            + f'<Relationship Id="rId{n + 1}" Type="{rel}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId{n + 2}" Type="{rel}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        num_fmts = "".join(
            f'<numFmt numFmtId="{164 + i}" formatCode="{_escape(fmt)}"/>'
            for i, fmt in enumerate(self._formats)
        )
        xfs = (
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            + "".join(
                f'<xf numFmtId="{164 + i}" fontId="0" fillId="0" borderId="0" xfId="0" '
                'applyNumberFormat="1"/>'
                for i in range(len(self._formats))
            )
        )
        z.writestr(
            "xl/styles.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<numFmts count="{len(self._formats)}">{num_fmts}</numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{2 + len(self._formats)}">{xfs}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>",
        )
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                + f'count="{len(self._strings)}" uniqueCount="{len(self._strings)}">'.encode()
            )
            batch: list[str] = []
            for text in self._strings:  # in index order: a dict keeps insertion order
                batch.append(f'<si><t xml:space="preserve">{_escape(text)}</t></si>')
                if len(batch) == 1000:
                    out.write("".join(batch).encode())
                    batch.clear()
            out.write("".join(batch).encode())
            out.write(b"</sst>")
        z.close()
