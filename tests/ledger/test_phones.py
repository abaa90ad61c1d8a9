from __future__ import annotations

import pytest

from ledger.phones import is_withheld, kind_of, masked, normalise


@pytest.mark.parametrize(
    "raw",
    [
        "01 45 67 89 01",
        "0145678901",
        "+33 1 45 67 89 01",
        "0033145678901",
        "01.45.67.89.01",
        "01-45-67-89-01",
        "+33145678901",
        "+33 (0)1 45 67 89 01",
    ],
)
def test_french_forms_normalise_to_e164(raw: str) -> None:
    assert normalise(raw) == "+33145678901"


@pytest.mark.parametrize("raw", [None, "", "anonymous", "Restricted", "unknown"])
def test_withheld(raw: str | None) -> None:
    assert is_withheld(raw)
    assert normalise(raw) is None


@pytest.mark.parametrize("raw", ["abc", "12", "+999"])
def test_garbage_is_not_a_number(raw: str) -> None:
    assert normalise(raw) is None


def test_kind_and_mask() -> None:
    assert kind_of("+33612345678") == "mobile"
    assert kind_of("+33145678901") == "landline"
    assert "4567" not in masked("+33145678901")
