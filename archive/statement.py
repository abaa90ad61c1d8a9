"""The "état mensuel du service fait" as a PDF/A-2b document.

reportlab draws it (French layout, DejaVu fonts from Debian's
fonts-dejavu-core, embedded so that accents survive); reportlab has no PDF/A
mode, so pikepdf's ``pdfa.save`` prepares the file (output intent, XMP),
writes it and validates the bytes it wrote as PDF/A-2b. The check runs before
signing because it does not cover signature fields
(docs/decisions/0403-archive-pikepdf-pdfa.md).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pikepdf
from pikepdf import pdfa
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from archive.figures import StatementFigures, StatementInput, compute_figures, hours
from ledger.timeutil import FRENCH_MONTHS

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"

MONTHS = FRENCH_MONTHS
WEEKDAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")


class StatementError(Exception):
    """The statement could not be built as PDF/A; the message says why."""


_fonts_ready = False
#: Characters both fonts can draw; any other is printed as "?" so that no
#: document ever references a missing glyph (.notdef), which PDF/A forbids.
_drawable: frozenset[int] = frozenset()


def _register_fonts() -> None:
    global _fonts_ready, _drawable
    if _fonts_ready:
        return
    maps = []
    for name in (FONT, FONT_BOLD):
        path = FONT_DIR / f"{name}.ttf"
        if not path.exists():
            raise StatementError(f"police introuvable : {path} (paquet Debian fonts-dejavu-core)")
        font = TTFont(name, str(path))
        pdfmetrics.registerFont(font)
        maps.append(set(font.face.charToGlyph))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)
    _drawable = frozenset(c for c in maps[0] & maps[1] if c >= 0x20)
    _fonts_ready = True


def drawable(text: str) -> str:
    """The text with every character the fonts cannot draw replaced by "?"."""
    _register_fonts()
    return "".join(c if ord(c) in _drawable else "?" for c in text)


def month_label(year: int, month: int) -> str:
    return f"{MONTHS[month - 1]} {year}"


class _NumberedCanvas(rl_canvas.Canvas):
    """Writes "Page n sur N" once the number of pages is known."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The base font must be the embedded TrueType one: PDF/A forbids Helvetica.
        kwargs["initialFontName"] = FONT
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self.setFont(FONT, 8)
            self.setFillColor(colors.grey)
            self.drawRightString(A4[0] - 15 * mm, 10 * mm, f"Page {self._pageNumber} sur {total}")
            super().showPage()
        super().save()


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=10.5)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=13, leading=16),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=FONT_BOLD, fontSize=9.5, leading=12, spaceBefore=6
        ),
        "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
    }


def _esc(text: str) -> str:
    return drawable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), FONT, 7.5),
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EEF4")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9AA8B5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
)


def _cell(text: str, style: ParagraphStyle, width: float) -> Any:
    """A table cell: plain text when it fits on one line, else a wrapping paragraph.

    A Paragraph costs its markup parse, line breaking and drawing: most cells
    (a worker's name, "Non") fit, and a plain string is a tenth of the cost.
    """
    text = drawable(text)
    # Table cells are padded by 6 pt on each side (reportlab's default).
    if pdfmetrics.stringWidth(text, style.fontName, style.fontSize) <= width - 12:
        return text
    return Paragraph(_esc(text), style)


def _time(moment: Any) -> str:
    return moment.strftime("%H:%M") if moment is not None else "—"


def render_pdf(data: StatementInput, figures: StatementFigures, *, version: int = 1) -> bytes:
    """Draw the statement with reportlab (not yet PDF/A)."""
    _register_fonts()
    st = _styles()
    org, ben = data.organisation, data.beneficiary
    names = dict(data.funder_names)
    story: list[Any] = []
    header = Table(
        [
            [
                Paragraph(
                    f"<b>{_esc(org.name)}</b><br/>{_esc(org.address)}<br/>"
                    f"SIRET {_esc(org.siret)} — Tél. {_esc(org.phone)}",
                    st["base"],
                ),
                Paragraph(
                    f"<b>{_esc(ben.display_name)}</b><br/>{_esc(ben.address)}<br/>"
                    f"Dossier {_esc(ben.external_id)} — {_esc(ben.antenna_name)}",
                    st["right"],
                ),
            ]
        ],
        colWidths=[90 * mm, 90 * mm],
        # Every table names its font, or reportlab falls back to Helvetica (not PDF/A).
        style=TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8.5)]),
    )
    story.append(header)
    story.append(Spacer(1, 4 * mm))
    title = f"État mensuel du service fait — {month_label(data.year, data.month)}"
    if version > 1:
        title += f" (version {version}, remplace la version {version - 1})"
    story.append(Paragraph(_esc(title), st["title"]))
    story.append(
        Paragraph(
            f"{figures.counted_visits} intervention(s) comptée(s), "
            f"{hours(figures.total_minutes)} réalisées"
            + (
                f" ; {figures.incomplete_visits} incomplète(s) non comptée(s)"
                if figures.incomplete_visits
                else ""
            )
            + (f" ; {figures.deleted_visits} supprimée(s)" if figures.deleted_visits else ""),
            st["base"],
        )
    )
    story.append(Paragraph("Interventions", st["h2"]))
    rows: list[list[Any]] = [
        ["Date", "Intervenant", "Arrivée", "Départ", "Durée", "Correction"],
    ]
    for line in figures.lines:
        if line.deleted:
            note = "Supprimée"
        elif line.corrected:
            note = "Corrigée"
        else:
            note = "Non" if line.minutes is not None else "Incomplète"
        if line.correction_reason:
            note = f"{note} : {line.correction_reason}"
        rows.append(
            [
                f"{WEEKDAYS[line.day.weekday()]} {line.day.strftime('%d/%m/%Y')}",
                _cell(line.worker_name, st["small"], 32 * mm),
                _time(line.arrival),
                _time(line.departure),
                hours(line.minutes) if line.minutes is not None else "—",
                _cell(note, st["small"], 76 * mm),
            ]
        )
    visits = Table(
        rows,
        colWidths=[27 * mm, 32 * mm, 15 * mm, 15 * mm, 15 * mm, 76 * mm],
        repeatRows=1,
    )
    visits.setStyle(_GRID)
    story.append(visits)

    story.append(Paragraph("Totaux par financeur et prestation", st["h2"]))
    totals: list[list[Any]] = [["Financeur", "Prestation", "Interventions", "Heures"]]
    for total in figures.by_funder:
        funder = (
            names.get(total.funder_code, total.funder_code)
            if total.funder_code
            else "Hors plan d'aide"
        )
        totals.append(
            [
                _cell(funder, st["small"], 95 * mm),
                total.service_code,
                str(total.visits),
                hours(total.minutes),
            ]
        )
    totals.append(["Total", "", str(figures.counted_visits), hours(figures.total_minutes)])
    table = Table(totals, colWidths=[95 * mm, 30 * mm, 25 * mm, 30 * mm])
    table.setStyle(_GRID)
    table.setStyle(TableStyle([("FONT", (0, -1), (-1, -1), FONT_BOLD, 7.5)]))
    story.append(table)

    story.append(Paragraph("Plan d'aide : heures prévues et heures réalisées", st["h2"]))
    plan_rows: list[list[Any]] = [["Plan", "Financeur", "Prestation", "Prévues", "Réalisées"]]
    for plan in figures.plans:
        plan_rows.append(
            [
                _cell(plan.reference, st["small"], 35 * mm),
                _cell(names.get(plan.funder_code, plan.funder_code), st["small"], 75 * mm),
                plan.service_code,
                hours(plan.planned_minutes),
                hours(plan.done_minutes),
            ]
        )
    if len(plan_rows) == 1:
        plan_rows.append(["Aucun plan d'aide en vigueur ce mois-ci", "", "", "", ""])
    table = Table(plan_rows, colWidths=[35 * mm, 75 * mm, 25 * mm, 22.5 * mm, 22.5 * mm])
    table.setStyle(_GRID)
    story.append(table)
    story.append(Spacer(1, 3 * mm))
    story.append(
        Paragraph(
            "Heures et minutes à l'heure de Paris. Les durées sont celles enregistrées par la "
            "télégestion, secondes non comptées. Ce document est scellé électroniquement et "
            "horodaté par l'organisation ; son intégrité se vérifie avec tout lecteur PAdES.",
            st["small"],
        )
    )

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=16 * mm,
        title=title,
        author=org.name,
        subject=f"État mensuel {data.year}-{data.month:02d} dossier {ben.external_id}",
        lang="fr-FR",
        # Uncompressed: pikepdf decodes every stream and compresses it again
        # when it writes the PDF/A file, so compressing here is done twice.
        pageCompression=0,
    )
    doc.build(story, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()


def to_pdfa(pdf: bytes, *, validate: bool = True) -> bytes:
    """Convert reportlab's output to PDF/A-2b; with ``validate``, check the written bytes.

    Without ``validate`` the same preparation and save settings are used but
    the written file is not re-read (``archive.pdfa_check_every`` decides how
    often a run validates; every statement comes from one template whose
    text is restricted to drawable characters).
    """
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            # reportlab writes an empty /Trans (page transition) that PDF/A rejects.
            if "/Trans" in page.obj:
                del page.obj["/Trans"]
        out = io.BytesIO()
        if not validate:
            pdfa.prepare(document, "2b")
            document.save(out, **pdfa.resolve_save_kwargs("2b"))
            return out.getvalue()
        try:
            pdfa.save(document, out, "2b")
        except pdfa.PdfaError as exc:
            raise StatementError(f"le document n'est pas PDF/A-2b : {exc}") from exc
        return out.getvalue()


def build_statement(data: StatementInput, *, version: int = 1) -> tuple[StatementFigures, bytes]:
    """Figures and the unsigned PDF/A-2b statement of one beneficiary-month."""
    figures = compute_figures(data)
    return figures, to_pdfa(render_pdf(data, figures, version=version))
