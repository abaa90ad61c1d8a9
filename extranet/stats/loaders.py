"""What the statistics states read, always inside the page's antennas.

Every minute comes from ``ledger.facts.month_billing`` (the rules of money in
``ledger.money`` with the funders' rounding from ``kernel.settings.money``),
month by month over the period, so a state and the pre-billing of the same
month agree to the minute. The other readers (calls, plans, people, absences)
take the antennas already narrowed by ``filters.scope_antennas``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from extranet.stats.filters import Filters
from kernel.settings import money
from ledger.facts import MonthFacts, month_billing
from ledger.models import Antenna, Beneficiary, Funder, FunderKind, Worker
from ledger.money import MonthBilling, Share, VisitBilling
from ledger.timeutil import Month

#: How the pages name minutes that fall under no care plan.
OUTSIDE_LABEL = "Sans plan d'aide"

FUNDER_KIND_LABELS = {
    FunderKind.APA: "APA",
    FunderKind.ASL_ELDERLY: "Aide sociale (personnes âgées)",
    FunderKind.ASL_DISABLED: "Aide sociale (personnes handicapées)",
    FunderKind.PCH: "PCH",
    FunderKind.PENSION_FUND: "Caisse de retraite",
    FunderKind.MUTUAL: "Mutuelle",
    FunderKind.CPAM: "CPAM",
    FunderKind.STATE: "État",
    FunderKind.PRIVATE: "Particulier (tarif plein)",
}

CHUNK = 900  # ids per IN (...): SQLite's variable limit is 999


@dataclass(frozen=True)
class Context:
    """One request of one state: where to read, what to keep, and when it is."""

    session: Session
    #: The user's antennas narrowed by the antenna filter; None: every antenna.
    antennas: frozenset[int] | None
    filters: Filters
    today: date
    now: datetime
    #: The most rows of a detail table the answer lists (a page); None: every row (a file).
    #: A state whose detail can run to millions of rows (every incomplete visit of a
    #: year) reads only these from the database and counts the others in SQL.
    listed: int | None = None


def in_antennas(column: object, antennas: Collection[int] | None) -> ColumnElement[bool]:
    if antennas is None:
        return true()
    return column.in_(sorted(antennas))  # type: ignore[attr-defined,no-any-return]


def months(
    ctx: Context, *, worker_only: bool = False, only: Collection[Month] | None = None
) -> Iterator[tuple[Month, MonthFacts, MonthBilling]]:
    """Each month of the period allocated by the ledger's rules, in the page's antennas.

    ``worker_only``: the state needs a worker's kept minutes only (not the split
    between plans, which is the beneficiary's whole month's to tell); ``only``:
    these months of the period.
    """
    f = ctx.filters
    rules = money().rules
    for month in f.period.months:
        if only is not None and month not in only:
            continue
        facts, billing = month_billing(
            ctx.session,
            month,
            rules,
            ctx.antennas,
            beneficiary_id=f.beneficiary_id,
            worker_id=f.worker_id if worker_only else None,
        )
        yield month, facts, billing


def billed(
    ctx: Context, *, worker_only: bool = False, only: Collection[Month] | None = None
) -> Iterator[tuple[Month, VisitBilling]]:
    """The period's counted visits with their kept minutes and shares, filters applied.

    With a funder filter, only visits with a share of that funder; ``only``: these
    months of the period.
    """
    f = ctx.filters
    for month, _facts, billing in months(ctx, worker_only=worker_only, only=only):
        for vb in billing.visits:
            visit = vb.visit
            if not f.period.contains(visit.service_date):
                continue
            if f.worker_id is not None and visit.worker_id != f.worker_id:
                continue
            if f.funder_code and not shares(vb, f.funder_code):
                continue
            yield month, vb


def shares(vb: VisitBilling, funder_code: str | None) -> list[Share]:
    """The visit's shares of this funder (all of them without a funder filter)."""
    if not funder_code:
        return list(vb.shares)
    return [s for s in vb.shares if s.plan is not None and s.plan.funder_code == funder_code]


def kept_minutes(vb: VisitBilling, funder_code: str | None) -> int:
    """The visit's kept minutes, or only its share of the funder of the filter."""
    if not funder_code:
        return vb.kept.minutes
    return sum(s.minutes for s in shares(vb, funder_code))


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    external_id: str
    antenna_id: int


def people(
    session: Session, model: type[Beneficiary] | type[Worker], ids: Iterable[int]
) -> dict[int, Person]:
    """Names of beneficiaries or workers by id ("LAST First")."""
    wanted = sorted(set(ids))
    found: dict[int, Person] = {}
    for start in range(0, len(wanted), CHUNK):
        for pid, ext, last, first, antenna in session.execute(
            select(
                model.id, model.external_id, model.last_name, model.first_name, model.antenna_id
            ).where(model.id.in_(wanted[start : start + CHUNK]))
        ):
            found[pid] = Person(pid, f"{last} {first}", ext, antenna)
    return found


def antenna_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Antenna.id, Antenna.name)).all())


def funders(session: Session) -> dict[str, tuple[str, FunderKind]]:
    """Funder code -> (name, kind)."""
    return {
        code: (name, kind)
        for code, name, kind in session.execute(select(Funder.code, Funder.name, Funder.kind))
    }


def code_label(names: dict[str, tuple[str, FunderKind]], funder_code: str | None) -> str:
    """A share's funder as pages name it; None: outside any plan."""
    if funder_code is None:
        return OUTSIDE_LABEL
    return names.get(funder_code, (funder_code, FunderKind.PRIVATE))[0]


def aid_type(share: Share) -> str:
    """The type of aid of a share: its funder's kind, or outside any plan."""
    return aid_label(None if share.plan is None else share.plan.funder_kind)


def aid_label(funder_kind: str | None) -> str:
    """A funder kind's type of aid; None: outside any plan."""
    if funder_kind is None:
        return OUTSIDE_LABEL
    try:
        return FUNDER_KIND_LABELS[FunderKind(funder_kind)]
    except ValueError:
        return funder_kind
