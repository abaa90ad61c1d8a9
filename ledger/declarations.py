"""What is declared to the Département's funders, and what changed since the last send.

The rules (docs/decisions/0504-billing_export-stable-declarations.md):

* **One declaration per visit and Département funder**: all of that funder's
  minutes of the visit (``ledger.money.funder_shares``), under the plan of its
  first share, so a visit split between two plans of one funder is declared
  once with its clock-ins once.
* **Held back, never declared, always listed**: every line of a funder whose
  identity is incomplete (no identifier from the Département's platform), and
  every line whose plan has no Département reference. Nothing else waits.
* **Stable document ids**: ``V<visit id>-<funder code>-<YYYYMM>``, stored at the
  first declaration (table ``declarations``) and reused by every later
  declaration of that visit, funder and month: a re-send carries the same ids,
  a correction is a new declaration of the same id, a deletion is the same id
  with SUP.
* **What changed since the last send** (``changes_since_last_send``): the
  month's declarable lines against the stored declarations of that month:
  NEW (never declared, or declared deleted and back), CHANGED (what it says
  differs: ``DeclarationLine.digest``), DELETED (declared, no longer in the
  month and not merely held back), and, on request, UNCHANGED.

Pure functions on plain data, plus the two functions that read and write the
``declarations`` table; the channel (``billing_export``) builds the files.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.facts import month_billing
from ledger.funders import FunderIdentity, identities
from ledger.models import Declaration, Funder
from ledger.money import MonthBilling, Period, Rounding, funder_shares
from ledger.motives import EsppadomAdjustment
from ledger.timeutil import Month, as_utc, utc_now

#: The ESPPADOM DELIVERY teletransmission.
ESPPADOM = "esppadom"

Key = tuple[int, str]  # (visit id, funder code)


class HoldReason(enum.StrEnum):
    FUNDER_IDENTITY = "funder_identity"
    NO_PLAN_REFERENCE = "no_plan_reference"

    @property
    def label(self) -> str:
        return {
            HoldReason.FUNDER_IDENTITY: (
                "financeur sans identifiant de la plateforme du Département"
            ),
            HoldReason.NO_PLAN_REFERENCE: "plan d'aide sans référence du Département",
        }[self]


@dataclass(frozen=True, slots=True)
class DeclarationLine:
    """What one declaration says: one visit's minutes for one funder."""

    visit_id: int
    funder_code: str
    month: Month
    beneficiary_id: int
    worker_id: int
    plan_id: int | None
    #: The Département's reference of the plan (OrderLineID); "" when it has none.
    order_reference: str
    service_code: str
    kept: Period
    clocked_start: datetime | None
    clocked_end: datetime | None
    #: ESPPADOM_EFFECTIVITY_AJUST code, "" when the kept period is the clocked one.
    adjustment: str

    @property
    def key(self) -> Key:
        return (self.visit_id, self.funder_code)

    @property
    def minutes(self) -> int:
        return self.kept.minutes

    @property
    def digest(self) -> str:
        """SHA-256 of what the declaration says; equal digests mean nothing to correct."""

        def moment(value: datetime | None) -> str:
            return as_utc(value).isoformat() if value is not None else ""

        text = "|".join(
            (
                str(self.month),
                str(self.beneficiary_id),
                str(self.worker_id),
                str(self.plan_id or ""),
                self.order_reference,
                self.service_code,
                moment(self.kept.start),
                moment(self.kept.end),
                str(self.minutes),
                moment(self.clocked_start),
                moment(self.clocked_end),
                self.adjustment,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class HeldBack:
    line: DeclarationLine
    reason: HoldReason


def declarable(
    billing: MonthBilling, funders: Mapping[str, FunderIdentity]
) -> tuple[list[DeclarationLine], list[HeldBack]]:
    """The month's declarations to Département funders, and those held back (with why)."""
    month = Month(billing.year, billing.month)
    lines: list[DeclarationLine] = []
    held: list[HeldBack] = []
    for vb in billing.visits:
        visit = vb.visit
        for share in funder_shares(vb):
            if not share.plan.departement:
                continue
            line = DeclarationLine(
                visit_id=visit.visit_id,
                funder_code=share.funder_code,
                month=month,
                beneficiary_id=visit.beneficiary_id,
                worker_id=visit.worker_id,
                plan_id=share.plan.plan_id,
                order_reference=share.plan.reference.strip(),
                service_code=share.plan.service_code,
                kept=share.kept,
                clocked_start=visit.clocked_start,
                clocked_end=visit.clocked_end,
                adjustment=visit.adjustment,
            )
            funder = funders.get(share.funder_code)
            if funder is None or funder.missing:
                held.append(HeldBack(line, HoldReason.FUNDER_IDENTITY))
            elif not line.order_reference:
                held.append(HeldBack(line, HoldReason.NO_PLAN_REFERENCE))
            else:
                lines.append(line)
    return lines, held


def document_id(visit_id: int, funder_code: str, month: Month) -> str:
    """The id of a visit's declaration to a funder for a month, given once and kept."""
    return f"V{visit_id}-{funder_code}-{month.year:04d}{month.month:02d}"


@dataclass(frozen=True, slots=True)
class Declared:
    """The last declaration of a visit to a funder, as stored."""

    document_id: str
    line: DeclarationLine
    digest: str
    deleted: bool
    revision: int
    file_name: str


class ChangeKind(enum.StrEnum):
    NEW = "new"
    CHANGED = "changed"
    DELETED = "deleted"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    #: What to declare: the line as it is now, or, for DELETED, as last declared.
    line: DeclarationLine
    previous: Declared | None

    @property
    def document_id(self) -> str:
        if self.previous is not None:
            return self.previous.document_id
        return document_id(self.line.visit_id, self.line.funder_code, self.line.month)

    @property
    def adjustment(self) -> str:
        """The code the declaration carries: SUP for a deletion, else the line's own."""
        return (
            EsppadomAdjustment.SUP.value
            if self.kind is ChangeKind.DELETED
            else (self.line.adjustment)
        )


def _order(line: DeclarationLine) -> tuple[int, datetime, int, str]:
    return (line.beneficiary_id, as_utc(line.kept.start), line.visit_id, line.funder_code)


def diff(
    previous: Mapping[Key, Declared],
    current: Iterable[DeclarationLine],
    held: Iterable[Key] = (),
    *,
    include_unchanged: bool = False,
) -> list[Change]:
    """What to declare so that the funder knows the month as ``current`` says it.

    ``previous``: the month's stored declarations by key. ``held``: keys held
    back now, whose earlier declaration stays as it is (holding a line back is
    not deleting it). Ordered beneficiary by beneficiary, in time order.
    """
    changes: list[Change] = []
    seen: set[Key] = set()
    for line in current:
        seen.add(line.key)
        before = previous.get(line.key)
        if before is None or before.deleted:
            changes.append(Change(ChangeKind.NEW, line, before))
        elif before.digest != line.digest:
            changes.append(Change(ChangeKind.CHANGED, line, before))
        elif include_unchanged:
            changes.append(Change(ChangeKind.UNCHANGED, line, before))
    kept_back = set(held)
    for key, before in previous.items():
        if key not in seen and key not in kept_back and not before.deleted:
            changes.append(Change(ChangeKind.DELETED, before.line, before))
    changes.sort(key=lambda c: _order(c.line))
    return changes


def load_declared(session: Session, channel: str, month: Month) -> dict[Key, Declared]:
    """The stored declarations of ``month`` on ``channel``, by (visit id, funder code)."""
    rows = session.execute(
        select(Declaration, Funder.code)
        .join(Funder, Funder.id == Declaration.funder_id)
        .where(Declaration.channel == channel, Declaration.month == month.first_day)
    ).all()
    out: dict[Key, Declared] = {}
    for row, code in rows:
        line = DeclarationLine(
            visit_id=row.visit_id,
            funder_code=code,
            month=month,
            beneficiary_id=row.beneficiary_id,
            worker_id=row.worker_id,
            plan_id=row.plan_id,
            order_reference=row.order_reference,
            service_code=row.service_code,
            kept=Period(as_utc(row.kept_start), as_utc(row.kept_end)),
            clocked_start=as_utc(row.clocked_start) if row.clocked_start else None,
            clocked_end=as_utc(row.clocked_end) if row.clocked_end else None,
            # As declared; a deletion keeps the content it replaced.
            adjustment="" if row.deleted else row.adjustment,
        )
        out[line.key] = Declared(
            row.document_id, line, row.content_sha256, row.deleted, row.revision, row.file_name
        )
    return out


def record(
    session: Session,
    channel: str,
    changes: Iterable[Change],
    file_name: str,
    at: datetime | None = None,
) -> None:
    """Store what ``file_name`` declares; the caller commits with the file's journal entry."""
    at = at or utc_now()
    changes = list(changes)
    funder_ids = dict(
        session.execute(
            select(Funder.code, Funder.id).where(
                Funder.code.in_(sorted({c.line.funder_code for c in changes}))
            )
        ).all()
    )
    known = {c.previous.document_id for c in changes if c.previous is not None}
    rows: dict[str, Declaration] = {}
    ordered = sorted(known)
    for start in range(0, len(ordered), 5000):
        for found in session.scalars(
            select(Declaration).where(Declaration.document_id.in_(ordered[start : start + 5000]))
        ):
            rows[found.document_id] = found
    for change in changes:
        line = change.line
        row = rows.get(change.previous.document_id) if change.previous is not None else None
        if row is None:
            row = Declaration(
                channel=channel,
                visit_id=line.visit_id,
                funder_id=funder_ids[line.funder_code],
                month=line.month.first_day,
                document_id=change.document_id,
                revision=0,
            )
            session.add(row)
        deleting = change.kind is ChangeKind.DELETED
        if change.kind is not ChangeKind.UNCHANGED:
            row.revision = (row.revision or 0) + 1
        row.beneficiary_id = line.beneficiary_id
        row.worker_id = line.worker_id
        row.plan_id = line.plan_id
        row.order_reference = line.order_reference
        row.service_code = line.service_code
        row.kept_start = line.kept.start
        row.kept_end = line.kept.end
        row.minutes = line.minutes
        row.clocked_start = line.clocked_start
        row.clocked_end = line.clocked_end
        row.adjustment = change.adjustment
        row.content_sha256 = line.digest
        row.deleted = deleting
        row.file_name = file_name
        row.declared_at = at
    session.flush()


@dataclass(frozen=True)
class MonthDeclarations:
    """The month as it would be declared now, against what was declared."""

    month: Month
    billing: MonthBilling
    funders: dict[str, FunderIdentity]
    #: What the next send carries (NEW, CHANGED, DELETED; UNCHANGED on request).
    changes: tuple[Change, ...]
    held_back: tuple[HeldBack, ...]

    def for_funder(self, code: str) -> list[Change]:
        return [c for c in self.changes if c.line.funder_code == code]


def compare(
    session: Session,
    month: Month,
    billing: MonthBilling,
    *,
    channel: str = ESPPADOM,
    funder_codes: Collection[str] | None = None,
    include_unchanged: bool = False,
) -> MonthDeclarations:
    """``changes_since_last_send`` on a month already allocated (the caller's ``billing``)."""
    funders = identities(session)
    lines, held = declarable(billing, funders)
    if funder_codes is not None:
        wanted = set(funder_codes)
        lines = [line for line in lines if line.funder_code in wanted]
        held = [h for h in held if h.line.funder_code in wanted]
    previous = load_declared(session, channel, month)
    if funder_codes is not None:
        previous = {k: v for k, v in previous.items() if k[1] in wanted}
    changes = diff(previous, lines, (h.line.key for h in held), include_unchanged=include_unchanged)
    return MonthDeclarations(month, billing, funders, tuple(changes), tuple(held))


def changes_since_last_send(
    session: Session,
    month: Month,
    *,
    channel: str = ESPPADOM,
    rules: Mapping[str, Rounding] | None = None,
    funder_codes: Collection[str] | None = None,
    include_unchanged: bool = False,
) -> MonthDeclarations:
    """What the next send of ``month`` would declare, and what it holds back.

    The one definition of "what changed since the last send": the
    teletransmission sends exactly ``changes``, and the month's close lists
    the same ``changes`` (correction lines after a reopen) and ``held_back``.
    ``rules``: the funders' rounding (``[billing] rounding``).
    """
    _facts, billing = month_billing(session, month, dict(rules) if rules else None)
    return compare(
        session,
        month,
        billing,
        channel=channel,
        funder_codes=funder_codes,
        include_unchanged=include_unchanged,
    )
