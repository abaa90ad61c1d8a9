"""ESPPADOM_EFFECTIVITY_AJUST codes as billing computes them (ledger.motives.esppadom_code)."""

from __future__ import annotations

import pytest

from ledger.motives import EsppadomAdjustment as Code
from ledger.motives import esppadom_code


@pytest.mark.parametrize(
    ("arrival", "departure", "arrival_changed", "departure_changed", "corrected", "code"),
    [
        (True, True, False, False, False, Code.HOR),  # raw clock-in
        (True, True, False, False, True, Code.MDT),  # touched, times kept
        (True, True, True, False, True, Code.COA),  # arrival moved by a manager
        (True, True, False, True, True, Code.COD),  # departure moved by a manager
        (True, True, True, True, True, Code.CO2),  # both moved
        (False, True, False, False, True, Code.COA),  # arrival missing
        (True, False, False, False, True, Code.COD),  # departure missing
        (False, False, False, False, True, Code.CRE),  # entered by hand
    ],
)
def test_codes(
    arrival: bool,
    departure: bool,
    arrival_changed: bool,
    departure_changed: bool,
    corrected: bool,
    code: Code,
) -> None:
    assert (
        esppadom_code(
            had_arrival_call=arrival,
            had_departure_call=departure,
            times_changed=arrival_changed or departure_changed,
            deleted=False,
            corrected=corrected,
            arrival_changed=arrival_changed,
            departure_changed=departure_changed,
        )
        is code
    )


def test_callers_that_do_not_say_which_end_changed_keep_the_old_answer() -> None:
    assert (
        esppadom_code(
            had_arrival_call=True,
            had_departure_call=True,
            times_changed=True,
            deleted=False,
            corrected=True,
        )
        is Code.CO2
    )
