"""The worker's phone guide as one printable A4 page: intervenant.md -> intervenant.pdf.

Run from the repository root: ``.venv/bin/python docs/manuel/imprimer.py``.
The Markdown is the source; markdown-it-py reads it and reportlab lays it out
with Debian's DejaVu fonts (as the signed statements do). The PDF is invariant
(no date, fixed identifiers), so the same Markdown gives the same bytes and a
test can tell when the PDF was not regenerated. Only the Markdown the guide
uses is supported: headings, paragraphs, lists, bold, italics, code; anything
else is refused rather than dropped.
"""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, ListFlowable, ListItem, Paragraph, SimpleDocTemplate

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "intervenant.md"
TARGET = HERE / "intervenant.pdf"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {"DejaVuSans": "DejaVuSans", "DejaVuSans-Bold": "DejaVuSans-Bold"}
BLUE = HexColor("#12355b")

STYLES = {
    "h1": ParagraphStyle(
        "h1", fontName="DejaVuSans-Bold", fontSize=20, leading=25, textColor=BLUE, spaceAfter=4
    ),
    "h2": ParagraphStyle(
        "h2",
        fontName="DejaVuSans-Bold",
        fontSize=14.5,
        leading=19,
        textColor=BLUE,
        spaceBefore=10,
        spaceAfter=4,
    ),
    "p": ParagraphStyle("p", fontName="DejaVuSans", fontSize=12, leading=16.5, spaceAfter=4),
}
INLINE = {
    "strong_open": "<b>",
    "strong_close": "</b>",
    "em_open": "<i>",
    "em_close": "</i>",
    "softbreak": " ",
    "hardbreak": "<br/>",
}


class UnsupportedMarkdown(ValueError):
    pass


def _fonts() -> None:
    for name, file in FONTS.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / f"{file}.ttf")))
    pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold")


def _french_spaces(text: str) -> str:
    """Non-breaking spaces inside guillemets and before colons, as French typesetting does."""
    for plain, kept in (("« ", "«\u00a0"), (" »", "\u00a0»"), (" :", "\u00a0:")):
        text = text.replace(plain, kept)
    return text


def _inline(token: Token) -> str:
    """reportlab's paragraph markup of one inline token."""
    out = []
    for child in token.children or []:
        if child.type == "text":
            out.append(escape(_french_spaces(child.content), quote=False))
        elif child.type == "code_inline":
            out.append(f'<font face="DejaVuSans-Bold">{escape(child.content, quote=False)}</font>')
        elif child.type in INLINE:
            out.append(INLINE[child.type])
        else:
            raise UnsupportedMarkdown(f"line {token.map}: {child.type} is not supported")
    return "".join(out)


def _blocks(tokens: list[Token], start: int, stop_type: str | None) -> tuple[list[Flowable], int]:
    """Flowables of the block tokens from ``start`` up to the closing ``stop_type``."""
    found: list[Flowable] = []
    i = start
    while i < len(tokens):
        token = tokens[i]
        if stop_type is not None and token.type == stop_type:
            return found, i + 1
        if token.type == "heading_open":
            found.append(Paragraph(_inline(tokens[i + 1]), STYLES[token.tag]))
            i += 3
        elif token.type == "paragraph_open":
            found.append(Paragraph(_inline(tokens[i + 1]), STYLES["p"]))
            i += 3
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            close = token.type.replace("_open", "_close")
            items: list[ListItem] = []
            i += 1
            while tokens[i].type == "list_item_open":
                content, i = _blocks(tokens, i + 1, "list_item_close")
                items.append(ListItem(content, leftIndent=18))
            assert tokens[i].type == close, tokens[i]
            ordered = token.type == "ordered_list_open"
            found.append(
                ListFlowable(
                    items,
                    bulletType="1" if ordered else "bullet",
                    start="1" if ordered else "•",
                    bulletFontName="DejaVuSans-Bold" if ordered else "DejaVuSans",
                    bulletFontSize=12,
                    bulletFormat="%s." if ordered else None,
                    leftIndent=18,
                    spaceAfter=4,
                )
            )
            i += 1
        else:
            raise UnsupportedMarkdown(f"line {token.map}: {token.type} is not supported")
    return found, i


def build(source: Path = SOURCE, target: Path = TARGET) -> int:
    """Write the PDF; return its number of pages."""
    _fonts()
    tokens = MarkdownIt("commonmark").parse(source.read_text(encoding="utf-8"))
    # A paragraph inside a list item is "tight" (hidden): render it all the same.
    story, _ = _blocks(tokens, 0, None)
    pages = []
    doc = SimpleDocTemplate(
        str(target),
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=12 * mm,
        title="Pointer mes interventions par téléphone",
        author="Télégestion",
        invariant=1,
    )
    doc.build(story, onLaterPages=lambda canvas, _doc: pages.append(canvas.getPageNumber()))
    return 1 + len(pages)


if __name__ == "__main__":
    count = build()
    print(f"{TARGET}: {count} page{'s' if count > 1 else ''}")
    sys.exit(0 if count == 1 else 1)
