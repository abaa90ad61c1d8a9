"""Pairing call facts into visits: the one rule, used live by the IVR and in batch.

``apply_call`` folds one call into the open visit of that worker at that
beneficiary; ``pair_calls`` folds a whole stream. Both are pure: they take
plain values and return plain values.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.timeutil import as_utc

#: An arrival older than this is not closed by a departure call: the worker
#: forgot the earlier departure, and the new call starts over.
MAX_OPEN_VISIT = timedelta(hours=14)
#: A departure within this delay after a closed visit may be a repeated call;
#: the IVR asks instead of guessing.
REPEAT_WINDOW = timedelta(minutes=5)


class Direction(enum.StrEnum):
    ARRIVAL = "arrival"
    DEPARTURE = "departure"


class Inference(enum.StrEnum):
    ARRIVAL = "arrival"
    DEPARTURE = "departure"
    ASK = "ask"


@dataclass(frozen=True, slots=True)
class CallFact:
    """What pairing needs of a call event."""

    event_id: int
    worker_id: int
    beneficiary_id: int
    at: datetime
    direction: Direction


@dataclass(frozen=True, slots=True)
class PairedVisit:
    worker_id: int
    beneficiary_id: int
    started_at: datetime | None
    ended_at: datetime | None
    arrival_event_id: int | None
    departure_event_id: int | None

    @property
    def is_open(self) -> bool:
        return self.started_at is not None and self.ended_at is None

    @property
    def is_complete(self) -> bool:
        return self.started_at is not None and self.ended_at is not None


@dataclass(frozen=True, slots=True)
class Pairing:
    """The outcome of one call: the visit to create or update."""

    visit: PairedVisit
    #: True when ``visit`` replaces the open visit passed in, False when new.
    closes_open_visit: bool


def can_close(open_visit: PairedVisit | None, at: datetime) -> bool:
    if open_visit is None or not open_visit.is_open:
        return False
    assert open_visit.started_at is not None
    elapsed = as_utc(at) - as_utc(open_visit.started_at)
    return timedelta(0) <= elapsed <= MAX_OPEN_VISIT


def apply_call(open_visit: PairedVisit | None, call: CallFact) -> Pairing:
    """Fold one call into the open visit of the same worker at the same home."""
    if open_visit is not None and (
        open_visit.worker_id != call.worker_id or open_visit.beneficiary_id != call.beneficiary_id
    ):
        raise ValueError("open visit belongs to another worker or beneficiary")
    if call.direction is Direction.DEPARTURE and can_close(open_visit, call.at):
        assert open_visit is not None
        # The constructor rather than dataclasses.replace: a bulk load closes millions.
        closed = PairedVisit(
            open_visit.worker_id,
            open_visit.beneficiary_id,
            open_visit.started_at,
            call.at,
            open_visit.arrival_event_id,
            call.event_id,
        )
        return Pairing(visit=closed, closes_open_visit=True)
    if call.direction is Direction.ARRIVAL:
        visit = PairedVisit(call.worker_id, call.beneficiary_id, call.at, None, call.event_id, None)
    else:
        visit = PairedVisit(call.worker_id, call.beneficiary_id, None, call.at, None, call.event_id)
    return Pairing(visit=visit, closes_open_visit=False)


def pair_calls(calls: Iterable[CallFact]) -> list[PairedVisit]:
    """Pair a stream of calls into visits, in call order.

    Every call ends in exactly one visit; an arrival never closed stays open,
    a departure with no arrival gives a visit without a start.
    """
    open_by_key: dict[tuple[int, int], int] = {}
    visits: list[PairedVisit] = []
    for call in sorted(calls, key=lambda c: (as_utc(c.at), c.event_id)):
        key = (call.worker_id, call.beneficiary_id)
        index = open_by_key.get(key)
        current = visits[index] if index is not None else None
        outcome = apply_call(current, call)
        if outcome.closes_open_visit:
            assert index is not None
            visits[index] = outcome.visit
            del open_by_key[key]
        else:
            if index is not None and call.direction is Direction.ARRIVAL:
                del open_by_key[key]  # the earlier arrival is left open for good
            visits.append(outcome.visit)
            if outcome.visit.is_open:
                open_by_key[key] = len(visits) - 1
    return visits


def infer_direction(
    open_visit: PairedVisit | None,
    last_closed_end: datetime | None,
    now: datetime,
) -> Inference:
    """Arrival or departure from the ledger alone; ASK when it cannot tell."""
    if can_close(open_visit, now):
        return Inference.DEPARTURE
    if open_visit is not None and open_visit.is_open:
        return Inference.ASK  # an arrival too old to close: let the worker say
    if last_closed_end is not None and as_utc(now) - as_utc(last_closed_end) <= REPEAT_WINDOW:
        return Inference.ASK
    return Inference.ARRIVAL


def total_duration(visits: Sequence[PairedVisit]) -> timedelta:
    total = timedelta(0)
    for visit in visits:
        if visit.started_at is not None and visit.ended_at is not None:
            total += as_utc(visit.ended_at) - as_utc(visit.started_at)
    return total
