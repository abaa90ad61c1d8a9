"""A month's closing in the tables: read its life, validate a funder, close, reopen.

The rules are ``ledger.closing``; the figures are ``ledger.facts.month_billing``
(the same as every output). Each transition is audited with who, when and why
(``month.validated``, ``month.closed``, ``month.reopened``). Functions add rows
and flush; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import call_figures, closing
from ledger import figures as kept_figures
from ledger.closing import Cutoff, MonthLife
from ledger.facts import month_billing
from ledger.models import FunderValidation, MonthClosure
from ledger.money import MonthBilling, Rounding
from ledger.service import audit
from ledger.timeutil import Month, as_utc


def _row(session: Session, month: Month, *, lock: bool = False) -> MonthClosure | None:
    query = select(MonthClosure).where(
        MonthClosure.year == month.year, MonthClosure.month == month.month
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def _life(row: MonthClosure | None, month: Month) -> MonthLife:
    if row is None:
        return MonthLife(month)
    return MonthLife(
        month,
        closed=row.closed,
        revision=row.revision,
        closed_at=as_utc(row.closed_at) if row.closed_at else None,
        closed_by=row.closed_by,
        reopened_at=as_utc(row.reopened_at) if row.reopened_at else None,
        reopened_by=row.reopened_by,
        reopen_motive=row.reopen_motive,
    )


def life_of(session: Session, month: Month) -> MonthLife:
    return _life(_row(session, month), month)


def is_closed(session: Session, month: Month) -> bool:
    return life_of(session, month).closed


def _store(session: Session, row: MonthClosure | None, life: MonthLife) -> MonthClosure:
    if row is None:
        row = MonthClosure(year=life.month.year, month=life.month.month)
        session.add(row)
    row.closed = life.closed
    row.revision = life.revision
    row.closed_at = life.closed_at
    row.closed_by = life.closed_by
    row.reopened_at = life.reopened_at
    row.reopened_by = life.reopened_by
    row.reopen_motive = life.reopen_motive
    session.flush()
    return row


@dataclass(frozen=True)
class GivenValidation:
    funder_key: str
    digest: str
    minutes: int
    validated_by: str
    validated_at: datetime


def validations(session: Session, month: Month) -> dict[str, GivenValidation]:
    """The validations given for the month's next close, by funder key."""
    row = _row(session, month)
    if row is None:
        return {}
    found = session.scalars(
        select(FunderValidation)
        .where(FunderValidation.closure_id == row.id, FunderValidation.cycle == row.revision + 1)
        .order_by(FunderValidation.validated_at)
    )
    return {
        v.funder_key: GivenValidation(
            v.funder_key, v.digest, v.minutes, v.validated_by, as_utc(v.validated_at)
        )
        for v in found
    }


@dataclass(frozen=True)
class Figures:
    """The month's figures as the rules of money give them, with each funder's digest."""

    billing: MonthBilling
    digests: dict[str, str]
    minutes: dict[str, int]


#: The figures of the last allocation asked for: the review page, each validation and
#: the close of an unchanged month get the same allocation (``month_billing`` keeps it
#: while the month does not change), so its digests are computed once.
_last: list[Figures] = []


def figures(session: Session, month: Month, rules: Mapping[str, Rounding] | None) -> Figures:
    _facts, billing = month_billing(session, month, dict(rules or {}))
    for known in list(_last):
        if known.billing is billing:
            return known
    minutes = {
        closing.funder_key(code): total for code, total in billing.minutes_by_funder().items()
    }
    found = Figures(billing, closing.funder_digests(billing.lines), minutes)
    _last[:] = [found]
    return found


def validate_funder(
    session: Session,
    month: Month,
    funder_key: str,
    *,
    actor: str,
    now: datetime,
    rules: Mapping[str, Rounding] | None,
    cutoff: Cutoff = closing.DEFAULT_CUTOFF,
) -> GivenValidation:
    """Validate one funder's current pro-forma for the month's next close."""
    row = _row(session, month, lock=True)
    life = _life(row, month)
    closing.check_validate(life, now, cutoff)
    current = figures(session, month, rules)
    if funder_key not in current.digests:
        raise closing.ClosingError(
            f"Aucune prestation de {month.label} pour ce financeur : rien à valider."
        )
    row = _store(session, row, life)
    cycle = row.revision + 1
    existing = session.scalars(
        select(FunderValidation).where(
            FunderValidation.closure_id == row.id,
            FunderValidation.cycle == cycle,
            FunderValidation.funder_key == funder_key,
        )
    ).first()
    if existing is None:
        existing = FunderValidation(closure_id=row.id, cycle=cycle, funder_key=funder_key)
        session.add(existing)
    existing.digest = current.digests[funder_key]
    existing.minutes = current.minutes[funder_key]
    existing.validated_by = actor
    existing.validated_at = as_utc(now)
    audit(
        session,
        actor,
        "month.validated",
        "month",
        str(month),
        month=str(month),
        funder=funder_key,
        revision=cycle,
        minutes=existing.minutes,
        digest=existing.digest,
    )
    session.flush()
    return GivenValidation(funder_key, existing.digest, existing.minutes, actor, as_utc(now))


def close_month(
    session: Session,
    month: Month,
    *,
    actor: str,
    now: datetime,
    rules: Mapping[str, Rounding] | None,
    cutoff: Cutoff = closing.DEFAULT_CUTOFF,
) -> MonthLife:
    """Close the month if every funder's validation holds for the figures of now."""
    # The row is taken for update first: writes to the month wait for this
    # close, and a write committed before it is in the figures checked below.
    row = _row(session, month, lock=True)
    life = _life(row, month)
    current = figures(session, month, rules)
    given = {key: v.digest for key, v in validations(session, month).items()}
    closed = closing.close(
        life, now=now, actor=actor, validations=given, current=current.digests, cutoff=cutoff
    )
    row = _store(session, row, closed)
    # The figures checked are kept with the close (ledger.figures): the readers of
    # many months read them instead of allocating the closed month again.
    kept_figures.store(session, row, current.billing, rules)
    call_figures.store(session, month)
    audit(
        session,
        actor,
        "month.closed",
        "month",
        str(month),
        month=str(month),
        revision=closed.revision,
        minutes=current.minutes,
        unbillable=len(current.billing.unbillable),
    )
    session.flush()
    return closed


def reopen_month(
    session: Session, month: Month, *, actor: str, now: datetime, motive: str
) -> MonthLife:
    row = _row(session, month, lock=True)
    reopened = closing.reopen(_life(row, month), now=now, actor=actor, motive=motive)
    row = _store(session, row, reopened)
    kept_figures.drop(session, row)
    call_figures.drop(session, month)
    audit(
        session,
        actor,
        "month.reopened",
        "month",
        str(month),
        month=str(month),
        revision=reopened.revision,
        motive=reopened.reopen_motive,
    )
    session.flush()
    return reopened


def closed_revision(session: Session, month: Month) -> int | None:
    """The revision of a closed month (1 after the first close), None when not closed."""
    life = life_of(session, month)
    return life.revision if life.closed else None
