"""The user manual without a browser: its files, the worker's guide against what the
IVR really says, and its printable page (``docs/manuel/imprimer.py``)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pikepdf
import pytest

from ledger.languages import LANGUAGES
from tests.docs import manual

PROMPTS = manual.ROOT / "asterisk" / "prompts.txt"
QUOTE = re.compile(r"«\s*(.+?)\s*»", re.S)
WORKER = manual.MANUAL / "intervenant.md"


def _imprimer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("imprimer", manual.MANUAL / "imprimer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prompts() -> list[str]:
    lines = PROMPTS.read_text(encoding="utf-8").splitlines()
    return [line.split("|", 1)[1] for line in lines if "|" in line and not line.startswith("#")]


def _said(quote: str, prompts: list[str]) -> bool:
    """Whether ``quote`` is one or several French prompts said one after the other."""
    quote = manual.normalise(quote)
    if not quote:
        return True
    return any(
        quote.startswith(p) and _said(quote[len(p) :], prompts)
        for p in (manual.normalise(p) for p in prompts)
    )


def test_every_guide_and_picture_the_manual_links_exists() -> None:
    index = (manual.MANUAL / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([a-z-]+\.(?:md|pdf))\)", index))
    assert {"intervenant.md", "intervenant.pdf", "navigateur.md", *manual.GUIDES} <= linked
    for name in linked:
        assert (manual.MANUAL / name).is_file(), name
    for page in manual.MANUAL.glob("*.md"):
        for target in manual.ANY_IMAGE.findall(page.read_text(encoding="utf-8")):
            assert (manual.MANUAL / target).is_file(), f"{page.name} shows {target}, missing"
    readme = (manual.ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/manuel/" in readme


def test_bold_in_the_extranet_guides_is_only_for_the_labels_of_a_shown_screen() -> None:
    # The browser test checks each bold label against the section's screenshots; a bold
    # label in a section without one would escape that check.
    unchecked = [(s.where, s.labels) for s in manual.sections() if s.labels and not s.captures]
    assert unchecked == []


def test_sections_keep_their_pictures_and_bold_labels(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(
        "# Guide\n\nIntro **Hors section**.\n\n## Une page\n\n"
        "Cliquez sur **Enregistrer\nla correction**.\n\n![x](captures/une-page.png)\n\n"
        "```sh\n# not a heading\n```\n\n### Autre\n\nRien.\n",
        encoding="utf-8",
    )
    found = {s.title: s for s in manual.sections(("guide.md",), tmp_path)}
    assert found["Guide"].labels == ("Hors section",) and found["Guide"].captures == ()
    assert found["Une page"].captures == ("une-page",)
    assert found["Une page"].labels == ("Enregistrer la correction",)
    assert "not a heading" not in found
    assert found["Autre"].labels == ()


def test_the_worker_guide_quotes_only_what_the_ivr_says() -> None:
    prompts = _prompts()
    quotes = QUOTE.findall(WORKER.read_text(encoding="utf-8"))
    assert len(quotes) >= 8
    assert [q for q in quotes if not _said(q, prompts)] == []


def test_a_misquoted_prompt_is_caught() -> None:
    prompts = _prompts()
    assert _said("Code incorrect. Veuillez recommencer.", prompts)
    assert not _said("Code erroné. Veuillez recommencer.", prompts)
    assert not _said("Code incorrect. Veuillez", prompts)


def test_the_worker_guide_names_every_language_the_ivr_speaks() -> None:
    text = WORKER.read_text(encoding="utf-8").lower()
    for code, name in LANGUAGES.items():
        assert name.lower() in text, name
        if code != "fr":
            assert (manual.ROOT / "asterisk" / "prompts" / f"{code}.txt").is_file(), code


def test_the_printable_page_is_one_a4_page_made_from_the_markdown(tmp_path: Path) -> None:
    imprimer = _imprimer()
    fresh = tmp_path / "intervenant.pdf"
    assert imprimer.build(target=fresh) == 1
    committed = manual.MANUAL / "intervenant.pdf"
    assert committed.read_bytes() == fresh.read_bytes(), (
        "intervenant.pdf is stale: run .venv/bin/python docs/manuel/imprimer.py"
    )
    with pikepdf.open(committed) as pdf:
        assert len(pdf.pages) == 1
        width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
        assert (round(width), round(height)) == (595, 842)  # A4 in points
    text = subprocess.run(
        ["pdftotext", "-layout", str(committed), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = manual.normalise(text)
    for sentence in ("Pointer mes interventions par téléphone", "Quand ça ne marche pas"):
        assert sentence in flat
    assert "Veuillez composer votre code intervenant" in flat


def test_the_printer_refuses_markdown_it_would_drop(tmp_path: Path) -> None:
    imprimer = _imprimer()
    source = tmp_path / "guide.md"
    source.write_text("# Titre\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n> citation\n")
    with pytest.raises(imprimer.UnsupportedMarkdown):
        imprimer.build(source=source, target=tmp_path / "guide.pdf")
