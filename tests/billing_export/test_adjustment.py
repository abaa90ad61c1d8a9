"""ESPPADOM_EFFECTIVITY_AJUST codes as billing computes them (ledger.motives.esppadom_code).

The guide (via the EDESS forum): the code is single and optional, given only
when the kept period differs from the clocked one; HOR marks an incomplete
message and is never the code of a visit.
"""

from __future__ import annotations

import pytest

from ledger.motives import EsppadomAdjustment as Code
from ledger.motives import esppadom_code


@pytest.mark.parametrize(
    ("arrival", "departure", "arrival_changed", "departure_changed", "corrected", "code"),
    [
        (True, True, False, False, False, None),  # clocked at both ends, untouched: no code
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
    code: Code | None,
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


def test_hor_is_never_the_answer() -> None:
    answers = {
        esppadom_code(
            had_arrival_call=a,
            had_departure_call=d,
            times_changed=ac or dc,
            deleted=deleted,
            corrected=corrected,
            arrival_changed=ac,
            departure_changed=dc,
        )
        for a in (True, False)
        for d in (True, False)
        for ac in (True, False)
        for dc in (True, False)
        for deleted in (True, False)
        for corrected in (True, False)
    }
    assert Code.HOR not in answers
    assert answers == {None, Code.CRE, Code.MDT, Code.SUP, Code.COA, Code.COD, Code.CO2}
