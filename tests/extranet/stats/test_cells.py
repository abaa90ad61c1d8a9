"""Exported cells: formula signs escaped, numbers as French Excel reads them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from extranet.stats.cells import csv_text, delay_text, safe_text, screen_text


@pytest.mark.parametrize("text", ["=1+1", "+33 1 45", "-2", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_starts_are_escaped(text: str) -> None:
    assert safe_text(text) == "'" + text
    assert csv_text(text, "text") == "'" + text


@pytest.mark.parametrize("text", ["Dupont", "01 45 67", "", "a=b", "'=déjà"])
def test_other_text_is_left_alone(text: str) -> None:
    assert safe_text(text) == text


def test_numbers_dates_and_durations_for_french_excel() -> None:
    assert csv_text(90, "hours") == "1,50"
    assert csv_text(61, "hours") == "1,02"
    assert csv_text(90, "minutes") == "90"
    assert csv_text(-30, "hours") == "-0,50"  # a typed number, not a formula
    assert csv_text(12.34, "percent") == "12,3"
    assert csv_text(date(2026, 3, 1), "date") == "01/03/2026"
    # 08:00 UTC is 09:00 in Paris in winter.
    assert csv_text(datetime(2026, 1, 5, 8, 0, tzinfo=UTC), "datetime") == "05/01/2026 09:00"
    assert csv_text(timedelta(hours=36), "delay") == "36,0"
    assert csv_text(None, "hours") == ""


def test_screen_text() -> None:
    assert screen_text(125, "hours") == "2 h 05"
    assert screen_text(None, "hours") == "—"
    assert screen_text(50.0, "percent") == "50,0 %"
    assert delay_text(timedelta(minutes=45)) == "45 min"
    assert delay_text(timedelta(hours=5, minutes=59)) == "5 h"
    assert delay_text(timedelta(days=3, hours=4)) == "3 j 4 h"


def test_csv_field_quotes_as_the_csv_module() -> None:
    import csv
    import io

    from extranet.stats.cells import csv_field

    texts = ["", "a", "a;b", 'dit "oui"', "deux\nlignes", "cr\rx", " espace ", "'=1", 'é;"x"']
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerow(["x", *texts])
    assert out.getvalue() == ";".join(["x", *map(csv_field, texts)]) + "\r\n"
