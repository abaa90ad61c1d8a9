"""Caller numbers: one canonical E.164 form whatever the network or the file wrote."""

from __future__ import annotations

import phonenumbers

WITHHELD_MARKERS = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "private"})


def is_withheld(raw: str | None) -> bool:
    return raw is None or raw.strip().lower() in WITHHELD_MARKERS


def normalise(raw: str | None, region: str = "FR") -> str | None:
    """Return the E.164 form of ``raw`` or None when it is no phone number.

    Accepts national (01 23 45 67 89), international (+33 1 ..., 0033 1 ...)
    and dotted or dashed French forms.
    """
    if is_withheld(raw):
        return None
    assert raw is not None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def kind_of(e164: str) -> str:
    """'mobile' or 'landline', as the beneficiary's phone list shows it."""
    parsed = phonenumbers.parse(e164, None)
    number_type = phonenumbers.number_type(parsed)
    if number_type in (phonenumbers.PhoneNumberType.MOBILE,):
        return "mobile"
    return "landline"


def masked(e164: str | None) -> str:
    """A number safe for INFO logs: country code and last two digits only."""
    if not e164:
        return "<none>"
    return f"{e164[:3]}…{e164[-2:]}"
