"""The statement PDF: PDF/A-2b, embedded fonts, French text, every visit listed."""

from __future__ import annotations

import io
import subprocess
from datetime import datetime
from pathlib import Path

import pikepdf
from pikepdf import pdfa
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.figures import Organisation
from archive.loader import load_inputs
from archive.statement import build_statement
from ledger.models import Visit
from ledger.motives import Motive
from ledger.service import correct_visit
from ledger.timeutil import paris_to_utc
from tests import factories

ORG = Organisation("Paris Domicile Test", "12 rue du Temple, 75004 Paris", "123", "01 02")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_statement_lists_each_visit_with_french_text(
    session: Session, october: factories.SmallOrg, tmp_path: Path
) -> None:
    visit = session.scalars(
        select(Visit)
        .where(Visit.beneficiary_id == october.ben_a1.id)
        .order_by(Visit.started_at)
        .limit(1)
    ).one()  # 1 October, 09:00
    correct_visit(
        session,
        visit,
        started_at=paris_to_utc(datetime(2026, 10, 1, 9, 10)),
        ended_at=paris_to_utc(datetime(2026, 10, 1, 11, 0)),
        motive=Motive.TIME_ERROR,
        comment="heure d'arrivée réelle",
        author="manager",
    )
    session.commit()
    [data] = load_inputs(session, ORG, 2026, 10, [october.ben_a1.id])
    figures, pdf = build_statement(data)
    text = pdf_text(pdf, tmp_path)

    assert "État mensuel du service fait — octobre 2026" in text
    assert october.ben_a1.last_name in text
    assert len(figures.lines) == 5
    for line in figures.lines:
        assert line.day.strftime("%d/%m/%Y") in text
    for day, arrival, departure, duration in (
        ("01/10/2026", "09:10", "11:00", "1 h 50"),
        ("06/10/2026", "09:00", "11:05", "2 h 05"),
        ("27/10/2026", "09:00", "11:05", "2 h 05"),
    ):
        line = next(ln for ln in text.splitlines() if day in ln)
        assert arrival in line and departure in line and duration in line, line
    assert "Horaire erroné : heure d'arrivée réelle" in text
    assert "Page 1 sur 1" in text


def test_statement_is_pdfa_2b_with_embedded_truetype_fonts(
    session: Session, october: factories.SmallOrg
) -> None:
    [data] = load_inputs(session, ORG, 2026, 10, [october.ben_a2.id])
    _figures, pdf = build_statement(data)
    with pikepdf.open(io.BytesIO(pdf)) as document:
        report = pdfa.check(document, "2b")
        assert report.verdict == "pass", report
        fonts = {
            str(font.get("/BaseFont"))
            for page in document.pages
            for font in page.Resources.Font.values()
        }
        assert all("DejaVuSans" in name for name in fonts), fonts
        assert all(
            "/FontFile2" in font.FontDescriptor
            for page in document.pages
            for font in page.Resources.Font.values()
        )


def test_incomplete_visit_is_listed_but_not_counted(
    session: Session, october: factories.SmallOrg, tmp_path: Path
) -> None:
    [data] = load_inputs(session, ORG, 2026, 10, [october.ben_a2.id])
    figures, pdf = build_statement(data)
    assert figures.incomplete_visits == 1
    assert figures.counted_visits == 5
    assert "1 incomplète(s) non comptée(s)" in pdf_text(pdf, tmp_path)


def test_undrawable_characters_never_break_pdfa(
    session: Session, october: factories.SmallOrg, tmp_path: Path
) -> None:
    visit = session.scalars(select(Visit).where(Visit.beneficiary_id == october.ben_b1.id)).one()
    correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=visit.ended_at,
        motive=Motive.OTHER,
        comment="appel 漢字\x07 reçu",
        author="manager",
    )
    session.commit()
    [data] = load_inputs(session, ORG, 2026, 10, [october.ben_b1.id])
    _figures, pdf = build_statement(data)  # validates the written PDF/A-2b
    words = pdf_text(pdf, tmp_path).split()
    assert "???" in words and "reçu" in words and "漢字" not in words


def test_unvalidated_save_writes_the_same_conformance(
    session: Session, october: factories.SmallOrg
) -> None:
    from archive.figures import compute_figures
    from archive.statement import render_pdf, to_pdfa

    [data] = load_inputs(session, ORG, 2026, 10, [october.ben_a1.id])
    fast = to_pdfa(render_pdf(data, compute_figures(data)), validate=False)
    with pikepdf.open(io.BytesIO(fast)) as document:
        assert pdfa.check(document, "2b").verdict == "pass"
