"""Caller numbers: one canonical E.164 form whatever the network or the file wrote.

``phonenumbers`` is the reference. A French number already written in one of
the usual forms (``01 45 67 89 01``, ``01.45.67.89.01``, ``0145678901``,
``+33 1 45 67 89 01``, ``0033145678901``) takes a fast path that gives exactly
what ``phonenumbers`` gives (``tests/ledger/test_phones_fast.py`` compares the
two on generated numbers): the imports parse up to a million numbers a file,
and ``phonenumbers.parse`` costs about 50 µs each. Anything else falls back to
``phonenumbers``.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneMetadata

WITHHELD_MARKERS = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "private"})

#: A national French number, 0 then nine digits, optionally in pairs split by a
#: space, dot or dash; or the same with +33 or 0033 and no trunk 0.
_FRENCH_NATIONAL = re.compile(r"0([1-9])([ .-]?)([0-9]{2})\2([0-9]{2})\2([0-9]{2})\2([0-9]{2})")
_FRENCH_INTERNATIONAL = re.compile(r"(?:\+|00)33 ?([1-9])([0-9]{8})")
_FRENCH_E164 = re.compile(r"\+33[1-9][0-9]{8}")


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
    if region == "FR":
        fast = _french_e164(text)
        if fast is not None:
            return fast
    return _normalise_slow(text, region)


def _french_e164(text: str) -> str | None:
    """The E.164 form of a French number in a usual form, or None to ask phonenumbers."""
    m = _FRENCH_NATIONAL.fullmatch(text)
    if m is not None:
        return "+33" + m.group(1) + m.group(3) + m.group(4) + m.group(5) + m.group(6)
    m = _FRENCH_INTERNATIONAL.fullmatch(text)
    if m is not None:
        return "+33" + m.group(1) + m.group(2)
    return None


def _normalise_slow(text: str, region: str) -> str | None:
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
    if _FRENCH_E164.fullmatch(e164):
        return "mobile" if _FRENCH_TYPES.is_mobile(e164[3:]) else "landline"
    return _kind_of_slow(e164)


def _kind_of_slow(e164: str) -> str:
    parsed = phonenumbers.parse(e164, None)
    number_type = phonenumbers.number_type(parsed)
    if number_type in (phonenumbers.PhoneNumberType.MOBILE,):
        return "mobile"
    return "landline"


class _MobileTest:
    """``phonenumbers.number_type(n) == MOBILE`` for one region's national numbers.

    The same tests in the same order as phonenumbers' own ``_number_type_helper``
    (the general pattern, then every type tested before mobile, each with its
    possible lengths), read from its metadata and folded into one regular
    expression compiled once: one match instead of ten pattern look-ups.
    """

    _BEFORE_MOBILE = (
        "premium_rate",
        "toll_free",
        "shared_cost",
        "voip",
        "personal_number",
        "pager",
        "uan",
        "voicemail",
        "fixed_line",
    )

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        general = self._desc(metadata.general_desc)
        mobile = (
            None if metadata.same_mobile_and_fixed_line_pattern else self._desc(metadata.mobile)
        )
        if general is None or mobile is None:
            self.pattern = re.compile(r"(?!)")  # never mobile
            return
        others = "".join(
            f"(?!{d})" for name in self._BEFORE_MOBILE if (d := self._desc(getattr(metadata, name)))
        )
        self.pattern = re.compile(f"(?={general}){others}{mobile}")

    @staticmethod
    def _desc(desc: object) -> str | None:
        """A lookahead-ready expression: the whole number has a possible length and
        matches the pattern (None: a type without a pattern never matches)."""
        pattern = getattr(desc, "national_number_pattern", None)
        if not pattern:
            return None
        lengths = sorted(set(getattr(desc, "possible_length", ()) or ()))
        length = "(?=" + "|".join(f"[0-9]{{{n}}}\\Z" for n in lengths) + ")" if lengths else ""
        return f"{length}(?:{pattern})\\Z"

    def is_mobile(self, national: str) -> bool:
        return self.pattern.match(national) is not None


_FRENCH_TYPES = _MobileTest("FR")


def masked(e164: str | None) -> str:
    """A number safe for INFO logs: country code and last two digits only."""
    if not e164:
        return "<none>"
    return f"{e164[:3]}…{e164[-2:]}"
