"""What the closing pages show: progress per antenna, held calls, the pro-forma per funder.

Every figure comes from ``ledger.facts.month_billing`` (through
``ledger.closures.figures``), the same as every monthly output; this module
only groups its lines and loads names, in the user's scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.calls.queries import Incomplete, incomplete
from extranet.models import User
from extranet.scope import antenna_ids, scope
from ledger import closing, closures
from ledger.closing import Validation
from ledger.facts import month_billing
from ledger.models import (
    Antenna,
    AuditEntry,
    Beneficiary,
    CallEvent,
    Funder,
    FunderKind,
    Visit,
    Worker,
)
from ledger.money import Category, MonthBilling, Rounding, Share, VisitBilling
from ledger.timeutil import Month

FUNDER_KIND_LABELS = {
    FunderKind.APA: "APA (Département)",
    FunderKind.ASL_ELDERLY: "Aide sociale personnes âgées (Département)",
    FunderKind.ASL_DISABLED: "Aide sociale personnes handicapées (Département)",
    FunderKind.PCH: "PCH (Département)",
    FunderKind.PENSION_FUND: "Caisse de retraite",
    FunderKind.MUTUAL: "Mutuelle",
    FunderKind.CPAM: "Assurance maladie",
    FunderKind.STATE: "État",
    FunderKind.PRIVATE: "Tarif du service",
}

CATEGORY_LABELS = {
    Category.WITHIN: "dans le plan",
    Category.BEYOND: "au-delà du plan",
    Category.OUTSIDE: "hors plan",
}


@dataclass
class AntennaProgress:
    antenna: Antenna
    incomplete: int = 0
    held: int = 0


def held_calls(
    session: Session, user: User, month: Month, antenna_id: int | None = None
) -> list[CallEvent]:
    """Calls that arrived after the month was closed and wait, unattached, for a reopen.

    Found through their ``call.held`` audit entry (indexed) rather than by
    scanning the month's calls; those attached since (after a reopen) drop out.
    """
    ids = [
        int(object_id)
        for object_id, details in session.execute(
            select(AuditEntry.object_id, AuditEntry.details).where(AuditEntry.action == "call.held")
        )
        if object_id and isinstance(details, dict) and details.get("month") == str(month)
    ]
    if not ids:
        return []
    query = select(CallEvent).where(CallEvent.id.in_(ids)).order_by(CallEvent.answered_at)
    if antenna_id is not None:
        query = query.where(CallEvent.antenna_id == antenna_id)
    events = list(session.scalars(scope(query, user, CallEvent)))
    attached = set(
        session.scalars(select(Visit.arrival_event_id).where(Visit.arrival_event_id.in_(ids))).all()
    ) | set(
        session.scalars(
            select(Visit.departure_event_id).where(Visit.departure_event_id.in_(ids))
        ).all()
    )
    return [e for e in events if e.id not in attached]


def to_correct(
    session: Session, user: User, month: Month, now: datetime, antenna_id: int | None = None
) -> list[Incomplete]:
    """The incomplete calls and visits of the month still to correct or justify."""
    return incomplete(
        session,
        user,
        since=month.first_day,
        until=month.last_day,
        now=now,
        antenna_id=antenna_id,
    )


def progress(session: Session, user: User, month: Month, now: datetime) -> list[AntennaProgress]:
    """Per antenna of the user's scope: what is left to correct, and the calls held."""
    query = select(Antenna).order_by(Antenna.name)
    ids = antenna_ids(user)
    if ids is not None:
        query = query.where(Antenna.id.in_(sorted(ids)))
    rows = {a.id: AntennaProgress(a) for a in session.scalars(query)}
    for item in to_correct(session, user, month, now):
        if item.antenna_id in rows:
            rows[item.antenna_id].incomplete += 1
    for event in held_calls(session, user, month):
        if event.antenna_id in rows:
            rows[event.antenna_id].held += 1
    return list(rows.values())


@dataclass
class FunderRow:
    key: str
    name: str
    kind: str
    departement: bool
    visits: int = 0
    minutes: int = 0
    beneficiaries: set[int] = field(default_factory=set)
    state: Validation = Validation.MISSING
    validation: closures.GivenValidation | None = None


@dataclass
class ProForma:
    month: Month
    billing: MonthBilling
    funders: list[FunderRow]
    #: Whether the figures cover every antenna (only then is a validation's freshness known).
    complete: bool


def proforma(
    session: Session,
    user: User,
    month: Month,
    rules: Mapping[str, Rounding],
    antenna_id: int | None = None,
) -> ProForma:
    ids: Collection[int] | None = antenna_ids(user)
    if antenna_id is not None:
        ids = {antenna_id} if ids is None else set(ids) & {antenna_id}
    if ids is None:
        figures = closures.figures(session, month, rules)
        billing, digests = figures.billing, figures.digests
    else:
        # A manager's (or a filtered) view: their antenna's lines, same rules.
        billing = month_billing(session, month, dict(rules), ids)[1]
        digests = {}
    funders = {f.code: f for f in session.scalars(select(Funder))}
    given = closures.validations(session, month)
    rows: dict[str, FunderRow] = {}
    for line in billing.lines:
        key = closing.funder_key(line.key.funder_code)
        row = rows.get(key)
        if row is None:
            funder = funders.get(line.key.funder_code)
            row = rows[key] = FunderRow(
                key,
                funder.name if funder else "Hors plan d'aide",
                FUNDER_KIND_LABELS[funder.kind] if funder else "Aucun plan en vigueur",
                bool(funder and funder.kind.is_departement),
            )
        row.visits += line.visits
        row.minutes += line.kept_minutes
        row.beneficiaries.add(line.key.beneficiary_id)
    for key, row in rows.items():
        row.validation = given.get(key)
        if ids is None:
            row.state = closing.validation_state(
                row.validation.digest if row.validation else None, digests.get(key)
            )
        else:
            row.state = Validation.VALID if row.validation else Validation.MISSING
    ordered = sorted(rows.values(), key=lambda r: (not r.departement, r.key == "-", r.key))
    return ProForma(month, billing, ordered, ids is None)


@dataclass
class Group:
    """One beneficiary's or one worker's part of a funder's pro-forma."""

    object_id: int
    name: str
    reference: str
    visits: int = 0
    minutes: int = 0
    by_category: dict[Category, int] = field(default_factory=lambda: defaultdict(int))


def funder_groups(
    session: Session, billing: MonthBilling, key: str, by_worker: bool
) -> list[Group]:
    groups: dict[int, Group] = {}
    for line in billing.lines:
        if closing.funder_key(line.key.funder_code) != key:
            continue
        object_id = line.key.worker_id if by_worker else line.key.beneficiary_id
        group = groups.get(object_id)
        if group is None:
            group = groups[object_id] = Group(object_id, "", "")
        group.visits += line.visits
        group.minutes += line.kept_minutes
        group.by_category[line.key.category] += line.kept_minutes
    model = Worker if by_worker else Beneficiary
    for chunk in _chunks(sorted(groups)):
        # Columns, not objects: a funder's page names every group to sort them.
        for object_id, last, first, reference in session.execute(
            select(model.id, model.last_name, model.first_name, model.external_id).where(
                model.id.in_(chunk)
            )
        ):
            groups[object_id].name = f"{last} {first}"
            groups[object_id].reference = reference
    return sorted(groups.values(), key=lambda g: (g.name, g.object_id))


def shares_of(
    billing: MonthBilling,
    key: str,
    *,
    beneficiary_id: int | None = None,
    worker_id: int | None = None,
) -> list[tuple[VisitBilling, Share]]:
    """The visits (and their share for this funder) behind one group of lines."""
    found: list[tuple[VisitBilling, Share]] = []
    for vb in billing.visits:
        if beneficiary_id is not None and vb.visit.beneficiary_id != beneficiary_id:
            continue
        if worker_id is not None and vb.visit.worker_id != worker_id:
            continue
        for share in vb.shares:
            code = share.plan.funder_code if share.plan else ""
            if closing.funder_key(code) == key:
                found.append((vb, share))
    found.sort(key=lambda item: item[0].recorded.start)
    return found


def names(
    session: Session, model: type[Worker] | type[Beneficiary], ids: Iterable[int]
) -> dict[int, Worker | Beneficiary]:
    found: dict[int, Worker | Beneficiary] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = select(model).where(model.id.in_(chunk))  # type: ignore[attr-defined]
        for obj in session.scalars(query):
            found[obj.id] = obj  # type: ignore[attr-defined, assignment]
    return found


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
