"""Reading the user manual (``docs/manuel/``): its sections, the screenshots each shows
and the labels each quotes, for the tests that keep it true to the screens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "docs" / "manuel"
CAPTURES = MANUAL / "captures"
#: The guides of the extranet, whose screens the browser test takes.
GUIDES = ("responsable.md", "referent.md", "administrateur.md")

HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
IMAGE = re.compile(r"!\[[^\]]*\]\(captures/([a-z0-9-]+)\.png\)")
ANY_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)


@dataclass(frozen=True)
class Section:
    """The text under one heading, up to the next heading of any level."""

    file: str
    title: str
    captures: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.file} « {self.title} »"


def sections(files: tuple[str, ...] = GUIDES, root: Path = MANUAL) -> list[Section]:
    found = []
    for name in files:
        title, lines, fenced = "(début)", [], False
        for line in [*(root / name).read_text(encoding="utf-8").splitlines(), "# (fin)"]:
            if line.startswith("```"):
                fenced = not fenced
            heading = None if fenced else HEADING.match(line)
            if heading is None:
                lines.append(line)
                continue
            text = "\n".join(lines)
            found.append(
                Section(
                    name,
                    title,
                    tuple(IMAGE.findall(text)),
                    tuple(normalise(label) for label in BOLD.findall(text)),
                )
            )
            title, lines = heading.group(2), []
    return found


def normalise(text: str) -> str:
    """Spaces as one (the browser's non-breaking ones included), apostrophes straight."""
    return " ".join(text.replace("\u2019", "'").split())
