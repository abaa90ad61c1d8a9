"""Exceptions a manager must look at, computed from plain visits and calls.

The extranet lists them; a correction (a new visit version) resolves them.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.timeutil import as_utc


class AnomalyKind(enum.StrEnum):
    MISSING_ARRIVAL = "missing_arrival"
    MISSING_DEPARTURE = "missing_departure"
    OVERLAP = "overlap"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    UNKNOWN_NUMBER = "unknown_number"
    UNKNOWN_WORKER = "unknown_worker"

    @property
    def label(self) -> str:
        return ANOMALY_LABELS[self]


ANOMALY_LABELS = {
    AnomalyKind.MISSING_ARRIVAL: "Départ sans arrivée",
    AnomalyKind.MISSING_DEPARTURE: "Arrivée sans départ",
    AnomalyKind.OVERLAP: "Intervenant à deux endroits à la fois",
    AnomalyKind.TOO_SHORT: "Durée anormalement courte",
    AnomalyKind.TOO_LONG: "Durée anormalement longue",
    AnomalyKind.UNKNOWN_NUMBER: "Appel d'un numéro non identifié",
    AnomalyKind.UNKNOWN_WORKER: "Code intervenant inconnu",
}


#: An arrival without a departure is incomplete once this long has passed.
OPEN_GRACE = timedelta(hours=14)


@dataclass(frozen=True, slots=True)
class Thresholds:
    too_short: timedelta = timedelta(minutes=5)
    too_long: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class VisitView:
    """The current version of a visit, as anomaly detection needs it."""

    visit_id: int
    worker_id: int
    beneficiary_id: int
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class UnmatchedCall:
    """A call that could not be attached to a visit."""

    event_id: int
    at: datetime
    beneficiary_identified: bool
    worker_identified: bool


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    visit_id: int | None = None
    event_id: int | None = None
    #: For OVERLAP: the other visit.
    other_visit_id: int | None = None


def visit_anomalies(
    visits: Sequence[VisitView],
    *,
    now: datetime,
    thresholds: Thresholds = Thresholds(),
    open_grace: timedelta = OPEN_GRACE,
) -> list[Anomaly]:
    """Anomalies of visits; an arrival is 'missing departure' once ``open_grace`` has passed."""
    found: list[Anomaly] = []
    for visit in visits:
        if visit.started_at is None and visit.ended_at is not None:
            found.append(Anomaly(AnomalyKind.MISSING_ARRIVAL, visit_id=visit.visit_id))
        elif visit.started_at is not None and visit.ended_at is None:
            if as_utc(now) - as_utc(visit.started_at) >= open_grace:
                found.append(Anomaly(AnomalyKind.MISSING_DEPARTURE, visit_id=visit.visit_id))
        elif visit.started_at is not None and visit.ended_at is not None:
            length = as_utc(visit.ended_at) - as_utc(visit.started_at)
            if length < thresholds.too_short:
                found.append(Anomaly(AnomalyKind.TOO_SHORT, visit_id=visit.visit_id))
            elif length > thresholds.too_long:
                found.append(Anomaly(AnomalyKind.TOO_LONG, visit_id=visit.visit_id))
    found.extend(overlaps(visits))
    return found


def overlaps(visits: Iterable[VisitView]) -> list[Anomaly]:
    """Complete visits of one worker at two homes at once (touching ends do not count)."""
    by_worker: dict[int, list[VisitView]] = defaultdict(list)
    for visit in visits:
        if visit.started_at is not None and visit.ended_at is not None:
            by_worker[visit.worker_id].append(visit)
    found: list[Anomaly] = []
    for worker_visits in by_worker.values():
        worker_visits.sort(key=lambda v: as_utc(v.started_at))  # type: ignore[arg-type]
        latest_end: VisitView | None = None
        for visit in worker_visits:
            assert visit.started_at is not None and visit.ended_at is not None
            if latest_end is not None:
                assert latest_end.ended_at is not None
                if as_utc(visit.started_at) < as_utc(latest_end.ended_at):
                    found.append(
                        Anomaly(
                            AnomalyKind.OVERLAP,
                            visit_id=visit.visit_id,
                            other_visit_id=latest_end.visit_id,
                        )
                    )
            if latest_end is None or as_utc(visit.ended_at) > as_utc(latest_end.ended_at):  # type: ignore[arg-type]
                latest_end = visit
    return found


def call_anomalies(calls: Iterable[UnmatchedCall]) -> list[Anomaly]:
    found: list[Anomaly] = []
    for call in calls:
        if not call.beneficiary_identified:
            found.append(Anomaly(AnomalyKind.UNKNOWN_NUMBER, event_id=call.event_id))
        elif not call.worker_identified:
            found.append(Anomaly(AnomalyKind.UNKNOWN_WORKER, event_id=call.event_id))
    return found
