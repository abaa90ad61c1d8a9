"""The IVR's prompts by language: where each one lives, and how a time is said.

French prompts (``asterisk/prompts.txt``) sit at the top of
``sounds/telegestion``; each worker language has its own folder, generated
from ``asterisk/prompts/<language>.txt`` with the numbers 0 to 59. A caller
hears French until the worker's code is recognised, then the worker's
language (decision 0106).
"""

from __future__ import annotations

from datetime import datetime

from ledger.languages import DEFAULT_LANGUAGE, LANGUAGES
from ledger.timeutil import to_paris

PROMPTS = "sound:telegestion/"

#: Languages a worker can have, with the name a manager sees (French).
DEFAULT = DEFAULT_LANGUAGE


def sound(name: str, language: str = DEFAULT) -> str:
    """A prompt in a language (an unknown language falls back to French)."""
    if language == DEFAULT or language not in LANGUAGES:
        return PROMPTS + name
    return f"{PROMPTS}{language}/{name}"


def time_media(moment: datetime, language: str = DEFAULT) -> list[str]:
    """A time of day in Europe/Paris as each language says it, from its number prompts.

    fr "9 heures 5", pt "9 horas e 5", es "(a las) 9 y 5", en "(at) 9 oh 5" /
    "9 o'clock", ar "9 و 5 دقيقة".
    """
    local = to_paris(moment)
    hour, minute = local.hour, local.minute

    def n(value: int) -> str:
        return sound(f"n-{value}", language)

    if language == "pt":
        return [
            n(hour),
            sound("hours", language),
            *([sound("and", language), n(minute)] if minute else []),
        ]
    if language == "es":
        return [n(hour), *([sound("and", language), n(minute)] if minute else [])]
    if language == "en":
        if not minute:
            return [n(hour), sound("oclock", language)]
        return [n(hour), *([sound("oh", language)] if minute < 10 else []), n(minute)]
    if language == "ar":
        return [
            n(hour),
            *([sound("and", language), n(minute), sound("minutes", language)] if minute else []),
        ]
    return [n(hour), sound("hours"), *([n(minute)] if minute else [])]
