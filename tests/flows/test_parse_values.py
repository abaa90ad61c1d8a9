"""``formats.parse_values`` is the per-field rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flows import formats
from flows.formats import FieldError, FileFormat

PIECES = [
    "",
    " ",
    " x ",
    "2024-01-01",
    "31/12/1999",
    "2024-02-30",
    "7",
    "-1",
    "3,5",
    "20.125",
    "100000",
    "M",
    "mme",
    "F",
    "Mx",
    "01 45 67 89 01",
    "+33 6 12 34 56 78",
    "12345",
    "A-B_C.9",
    "a b",
    "NaN",
    "é" * 90,
]


def _reference(fmt: FileFormat, values: list[str]) -> tuple[dict[str, Any], list[Any]]:
    out: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for field, raw in zip(fmt.fields, values, strict=True):
        text = raw.strip()
        if not text:
            if field.required:
                errors.append((field.name, "valeur obligatoire manquante"))
            out[field.name] = None
        elif len(text) > field.length:
            errors.append(
                (field.name, f"trop long ({len(text)} caractères, {field.length} au plus)")
            )
        else:
            try:
                out[field.name] = formats._convert(field, text)
            except FieldError as exc:
                errors.append((field.name, str(exc)))
    return out, errors


@settings(max_examples=400, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(formats.IN_FORMATS))
def test_parse_values_is_the_per_field_rule(data: st.DataObject, fmt: FileFormat) -> None:
    values = data.draw(
        st.lists(
            st.sampled_from(PIECES) | st.text(max_size=12),
            min_size=len(fmt.fields),
            max_size=len(fmt.fields),
        )
    )
    assert repr(formats.parse_values(fmt, values)) == repr(_reference(fmt, values))
