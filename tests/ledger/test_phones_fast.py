"""The fast path of ``ledger.phones`` against phonenumbers itself, on generated numbers.

Every number the imports' files may carry (French numbers in the usual forms,
with or without separators, prefixes or a stray character) must give exactly
what phonenumbers gives: the same E.164 form, the same refusal (None), and the
same kind.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger import phones

NATIONAL = st.from_regex(r"\A[1-9][0-9]{8}\Z")
SEPARATOR = st.sampled_from(["", " ", ".", "-", "  ", " - ", "/", "_"])
PREFIX = st.sampled_from(["0", "+33", "+33 ", "0033", "0033 ", "+33 0", "+330", "00", "", "+"])


def reference(text: str) -> str | None:
    """What ``normalise`` returned before the fast path: phonenumbers only."""
    if phones.is_withheld(text):
        return None
    return phones._normalise_slow(text.strip(), "FR")


def written(prefix: str, national: str, separator: str, pairs: bool) -> str:
    if pairs:
        body = national[0] + separator + separator.join(national[i : i + 2] for i in range(1, 9, 2))
    else:
        body = national
    return prefix + body


@given(PREFIX, NATIONAL, SEPARATOR, st.booleans(), st.sampled_from(["", " ", "\t"]))
@settings(max_examples=1500, deadline=None)
@example("0", "145678901", " ", True, "")
@example("+33 ", "612345678", "", False, "")
def test_french_forms_same_as_phonenumbers(
    prefix: str, national: str, separator: str, pairs: bool, pad: str
) -> None:
    text = pad + written(prefix, national, separator, pairs) + pad
    assert phones.normalise(text) == reference(text)


@given(st.text(alphabet="0123456789 +.-()/x", max_size=22))
@settings(max_examples=1500, deadline=None)
def test_any_digits_and_punctuation_same_as_phonenumbers(text: str) -> None:
    assert phones.normalise(text) == reference(text)


@given(st.text(max_size=20))
@settings(max_examples=500, deadline=None)
def test_any_text_same_as_phonenumbers(text: str) -> None:
    assert phones.normalise(text) == reference(text)


@given(NATIONAL)
@settings(max_examples=1500, deadline=None)
def test_kind_same_as_phonenumbers(national: str) -> None:
    e164 = "+33" + national
    assert phones.kind_of(e164) == phones._kind_of_slow(e164)


def test_kind_same_as_phonenumbers_for_every_four_digit_prefix() -> None:
    for prefix in range(1000, 10000):
        for tail in ("00000", "12345", "54321", "99999"):
            e164 = f"+33{prefix}{tail}"
            assert phones.kind_of(e164) == phones._kind_of_slow(e164), e164


def test_other_countries_and_odd_forms_keep_phonenumbers() -> None:
    for text in ["+32 2 123 45 67", "+44 20 7946 0958", "+33 (0)1 45 67 89 01", "01 45 67 89 0"]:
        assert phones.normalise(text) == reference(text)
    assert phones.kind_of("+447700900123") == phones._kind_of_slow("+447700900123")
