"""The fixed list of correction motives.

Each operational motive (what a manager picks) maps onto the ESPPADOM
``ESPPADOM_EFFECTIVITY_AJUST`` code that the Département's system expects.
The code depends on what was missing or changed, so it is computed by
``esppadom_code`` from the visit's state rather than stored per motive.
"""

from __future__ import annotations

import enum


class Motive(enum.StrEnum):
    PHONE_OUT_OF_ORDER = "phone_out_of_order"
    LINE_BUSY = "line_busy"
    WORKER_FORGOT = "worker_forgot"
    BENEFICIARY_ABSENT = "beneficiary_absent"
    WRONG_CODE = "wrong_code"
    NUMBER_NOT_REGISTERED = "number_not_registered"
    NO_PHONE_AT_HOME = "no_phone_at_home"
    CALL_FROM_OTHER_PHONE = "call_from_other_phone"
    VISIT_CANCELLED = "visit_cancelled"
    DUPLICATE_CALL = "duplicate_call"
    TIME_ERROR = "time_error"
    OTHER = "other"

    @property
    def label(self) -> str:
        return MOTIVE_LABELS[self]


MOTIVE_LABELS: dict[Motive, str] = {
    Motive.PHONE_OUT_OF_ORDER: "Téléphone du bénéficiaire en panne",
    Motive.LINE_BUSY: "Ligne du bénéficiaire occupée",
    Motive.WORKER_FORGOT: "Oubli de l'intervenant",
    Motive.BENEFICIARY_ABSENT: "Bénéficiaire absent",
    Motive.WRONG_CODE: "Erreur de code intervenant",
    Motive.NUMBER_NOT_REGISTERED: "Numéro d'appel non enregistré",
    Motive.NO_PHONE_AT_HOME: "Pas de téléphone au domicile",
    Motive.CALL_FROM_OTHER_PHONE: "Appel depuis un autre téléphone",
    Motive.VISIT_CANCELLED: "Intervention annulée",
    Motive.DUPLICATE_CALL: "Appel en double",
    Motive.TIME_ERROR: "Horaire erroné",
    Motive.OTHER: "Autre motif (préciser en commentaire)",
}


class EsppadomAdjustment(enum.StrEnum):
    """ESPPADOM_EFFECTIVITY_AJUST codes (DELIVERY message, v1.4)."""

    CRE = "CRE"  # created without any timestamp
    MDT = "MDT"  # modified, times kept
    SUP = "SUP"  # deleted
    COA = "COA"  # arrival missing, completed by hand
    COD = "COD"  # departure missing, completed by hand
    CO2 = "CO2"  # neither end clocked (missing, or both moved by a manager)
    #: In the guide, an incomplete message carrying the clock-in data only, whose
    #: kept period must be disregarded. Never the code of a visit: never emitted.
    HOR = "HOR"


def esppadom_code(
    *,
    had_arrival_call: bool,
    had_departure_call: bool,
    times_changed: bool,
    deleted: bool,
    corrected: bool,
    arrival_changed: bool | None = None,
    departure_changed: bool | None = None,
) -> EsppadomAdjustment | None:
    """The correction code of a visit as kept for billing, or None when there is none.

    The implementation guide makes the code single and optional, given only when
    the kept period is not simply the clocked one (docs/flows/esppadom-delivery.md):
    a visit clocked at both ends and never touched has **no** code.

    When both calls exist and a manager changed the times, ``arrival_changed``
    and ``departure_changed`` (if given) say which end no longer is the clocked
    one: COA for the arrival only, COD for the departure only, CO2 for both.
    A visit with no call at all is CRE (created without clock-in) when it was
    entered or corrected by hand, CO2 otherwise.
    """
    if deleted:
        return EsppadomAdjustment.SUP
    if not had_arrival_call and not had_departure_call:
        return EsppadomAdjustment.CRE if corrected else EsppadomAdjustment.CO2
    if not had_arrival_call:
        return EsppadomAdjustment.COA
    if not had_departure_call:
        return EsppadomAdjustment.COD
    if corrected:
        if times_changed and arrival_changed is not None and departure_changed is not None:
            if arrival_changed and not departure_changed:
                return EsppadomAdjustment.COA
            if departure_changed and not arrival_changed:
                return EsppadomAdjustment.COD
        return EsppadomAdjustment.CO2 if times_changed else EsppadomAdjustment.MDT
    return None
