"""The languages a worker can hear the IVR in (ISO 639-1 code -> French name).

Held by the ledger because the worker's language is a fact of the organisation
that the IVR (its prompts) and the extranet (the worker page) both read.
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {
    "fr": "Français",
    "pt": "Portugais",
    "ar": "Arabe",
    "es": "Espagnol",
    "en": "Anglais",
}
DEFAULT_LANGUAGE = "fr"
