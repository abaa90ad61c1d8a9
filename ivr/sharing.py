"""A number shared by several beneficiaries (a couple on one phone): whom is the visit for?

Decided, in order (decision 0105):

1. the worker's **open visit**: exactly one candidate has a visit this worker
   started and has not closed (the call is its departure);
2. the worker's **planned visit**: exactly one candidate has a visit planned
   with this worker around now (from two hours before its start to two hours
   after its end);
3. otherwise the **keypad**, with no name spoken: by the planned times when
   every candidate has one today at a distinct time ("pour l'intervention
   prévue à 9 heures 30, tapez 1"), else, for two people, by civility when
   it differs ("pour Madame, tapez 1"), else by age when both birth dates are
   known and differ ("pour la personne la plus âgée, tapez 1");
4. otherwise nobody: the call keeps its candidates for the manager.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import Beneficiary, Civility, PlannedVisit
from ledger.pairing import MAX_OPEN_VISIT
from ledger.service import open_visit
from ledger.timeutil import as_utc, paris_date, paris_day_bounds

#: How far around a planned visit a call is taken to be for it.
PLAN_MARGIN = timedelta(hours=2)
#: At most this many choices on the keypad (keys 1 to 9).
MAX_CHOICES = 9


@dataclass(frozen=True, slots=True)
class Option:
    """One key of the keypad choice: what is said for it, never a name."""

    beneficiary_id: int
    #: "planned" (with ``planned_at``), "mrs", "mr", "older" or "younger".
    kind: str
    planned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Pick:
    beneficiary_id: int | None
    #: "open_visit", "planned", or "" when undecided.
    reason: str = ""
    #: When undecided: the keypad choice (option n is key n + 1), empty if none fits.
    options: tuple[Option, ...] = ()


def pick_beneficiary(
    session: Session, worker_id: int, candidates: tuple[int, ...], at: datetime
) -> Pick:
    at = as_utc(at)
    opened = []
    for beneficiary_id in candidates:
        visit = open_visit(session, worker_id, beneficiary_id)
        started = visit.started_at if visit is not None else None
        if started is not None and at - as_utc(started) <= MAX_OPEN_VISIT:
            opened.append(beneficiary_id)
    if len(opened) == 1:
        return Pick(opened[0], "open_visit")

    day_start, day_end = paris_day_bounds(paris_date(at))
    plans = list(
        session.scalars(
            select(PlannedVisit)
            .where(
                PlannedVisit.worker_id == worker_id,
                PlannedVisit.beneficiary_id.in_(candidates),
                PlannedVisit.starts_at < day_end,
                PlannedVisit.ends_at > day_start,
            )
            .order_by(PlannedVisit.starts_at)
        )
    )
    near = {
        p.beneficiary_id
        for p in plans
        if as_utc(p.starts_at) - PLAN_MARGIN <= at <= as_utc(p.ends_at) + PLAN_MARGIN
    }
    if len(near) == 1:
        return Pick(next(iter(near)), "planned")
    return Pick(None, "", _options(session, candidates, plans, at))


def _options(
    session: Session, candidates: tuple[int, ...], plans: list[PlannedVisit], at: datetime
) -> tuple[Option, ...]:
    if len(candidates) > MAX_CHOICES:
        return ()
    # The plan of each candidate nearest to the call, if every one has a plan today.
    nearest: dict[int, datetime] = {}
    for plan in plans:
        start = as_utc(plan.starts_at)
        best = nearest.get(plan.beneficiary_id)
        if best is None or abs(start - at) < abs(best - at):
            nearest[plan.beneficiary_id] = start
    minutes = {(t.hour, t.minute) for t in nearest.values()}
    if set(nearest) == set(candidates) and len(minutes) == len(candidates):
        return tuple(
            Option(b, "planned", t) for b, t in sorted(nearest.items(), key=lambda kv: kv[1])
        )
    if len(candidates) != 2:
        return ()
    people = [session.get_one(Beneficiary, b) for b in candidates]
    civilities = {p.civility for p in people}
    if len(civilities) == 2:
        people.sort(key=lambda p: 0 if p.civility is Civility.MRS else 1)
        return tuple(Option(p.id, "mrs" if p.civility is Civility.MRS else "mr") for p in people)
    births = [p.birth_date for p in people]
    if births[0] is not None and births[1] is not None and births[0] != births[1]:
        people.sort(key=lambda p: p.birth_date or at.date())
        return (Option(people[0].id, "older"), Option(people[1].id, "younger"))
    return ()
