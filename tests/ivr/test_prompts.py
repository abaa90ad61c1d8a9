"""Every prompt the flow can name exists in every worker language's prompt file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.flow import choice_media
from ivr.prompts import LANGUAGES, PROMPTS, sound, time_media
from ivr.sharing import Option

REPO = Path(__file__).resolve().parents[2]
#: Prompts the flow says once the worker's code is recognised.
AFTER_CODE = ("direction-request", "arrival-recorded", "departure-recorded",
              "degraded-recorded", "goodbye")  # fmt: skip


def names_in(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    names = {line.split("|", 1)[0] for line in lines if line and not line.startswith("#")}
    return names | {f"n-{n}" for n in range(60)}


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - {"fr"}))
def test_every_prompt_of_a_language_is_generated(language: str) -> None:
    known = names_in(REPO / "asterisk" / "prompts" / f"{language}.txt")
    media = [sound(name, language) for name in AFTER_CODE]
    for hour, minute in ((0, 0), (9, 5), (13, 30), (23, 59)):
        media += time_media(datetime(2026, 1, 5, hour - 1 if hour else 23, minute, tzinfo=UTC),
                            language)  # fmt: skip
    planned = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    options = (Option(1, "planned", planned), Option(2, "mrs"), Option(3, "mr"),
               Option(4, "older"), Option(5, "younger"))  # fmt: skip
    media += choice_media(options, language)
    prefix = f"{PROMPTS}{language}/"
    for item in media:
        assert item.startswith(prefix), item
        assert item.removeprefix(prefix) in known, item


def test_french_is_at_the_top_and_times_read_as_spoken() -> None:
    known = names_in(REPO / "asterisk" / "prompts.txt")
    nine_five = datetime(2026, 1, 5, 8, 5, tzinfo=UTC)  # 9:05 in Paris
    assert time_media(nine_five) == [f"{PROMPTS}n-9", f"{PROMPTS}hours", f"{PROMPTS}n-5"]
    assert time_media(nine_five, "en") == [
        f"{PROMPTS}en/n-9",
        f"{PROMPTS}en/oh",
        f"{PROMPTS}en/n-5",
    ]
    assert time_media(nine_five, "pt")[-2:] == [f"{PROMPTS}pt/and", f"{PROMPTS}pt/n-5"]
    for name in (*AFTER_CODE, "choice-intro", "choice-planned", "press", "interrupted"):
        assert name in known
    assert sound("goodbye", "xx") == f"{PROMPTS}goodbye"  # unknown language: French
