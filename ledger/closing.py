"""A month's life: open, in review from the cut-off, closed; reopened with a motive.

Pure rules on plain values (``ledger.closures`` keeps them in the tables):

* A month is **open** until its cut-off: by default the 5th of the next month
  at 23:59, Europe/Paris time (the Département's charter gives managers until
  the 5th to correct or justify every incomplete call). The day, hour and
  minute are configurable (``Cutoff``).
* From the cut-off it is **in review**: central referents look at the
  pro-forma and validate it funder by funder. Corrections are still accepted
  (a referent may ask a manager to fix what the review shows); a correction
  that changes a funder's figures makes that funder's validation stale.
* A referent **closes** it once in review and once every funder with figures
  has a validation of its current figures. From then on every write that
  touches the month is refused (``MonthClosedError``) and the monthly outputs
  (service-done file, pre-billing, teletransmission, signed statements) are
  produced from it.
* Only a central referent (or an administrator) **reopens** a closed month,
  with a motive; it goes back in review, its validations are to be given
  again, and the next close is a new ``revision``: the outputs of revision 2
  are corrections of those of revision 1.

Every transition is audited by the caller (who, when, why).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from ledger.money import Line
from ledger.timeutil import Month, as_utc, paris_to_utc, to_paris

#: Who may reopen a closed month, as users read it in refusals.
REOPENER = "un référent central"

#: The key of the lines outside any plan in validations (they have no funder code).
OUTSIDE_PLAN = "-"


class ClosingError(Exception):
    """A transition the rules refuse; the message is French and safe to show."""


class MonthClosedError(ClosingError):
    """A write that would change a closed month."""

    def __init__(self, month: Month) -> None:
        self.month = month
        super().__init__(
            f"Le mois de {month.label} est clôturé : cette modification est refusée. "
            f"Seul {REOPENER} peut rouvrir le mois, avec un motif, depuis la page "
            "« Clôture mensuelle »."
        )


class MonthPhase(enum.StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {
            MonthPhase.OPEN: "Ouvert aux corrections",
            MonthPhase.IN_REVIEW: "En revue",
            MonthPhase.CLOSED: "Clôturé",
        }[self]


@dataclass(frozen=True, slots=True)
class Cutoff:
    """When a month goes in review: ``day`` of the next month at ``hour:minute``, Paris time."""

    day: int = 5
    hour: int = 23
    minute: int = 59

    def __post_init__(self) -> None:
        # Up to the 28th, so that every month has the day.
        if not 1 <= self.day <= 28:
            raise ClosingError(f"jour de clôture {self.day} : attendu de 1 à 28")
        if not 0 <= self.hour <= 23 or not 0 <= self.minute <= 59:
            raise ClosingError(f"heure de clôture {self.hour}:{self.minute:02d} invalide")

    def at(self, month: Month) -> datetime:
        """The UTC instant at which ``month`` goes in review."""
        following = month.next()
        return paris_to_utc(
            datetime(following.year, following.month, self.day, self.hour, self.minute)
        )

    def label(self, month: Month) -> str:
        """French: "5 décembre 2026 à 23 h 59"."""
        local = to_paris(self.at(month))
        return f"{local.day} {Month.of(local.date()).label} à {local.hour} h {local.minute:02d}"


DEFAULT_CUTOFF = Cutoff()


@dataclass(frozen=True, slots=True)
class MonthLife:
    """What is known of a month's closing (a month never closed has the defaults)."""

    month: Month
    closed: bool = False
    #: How many times the month was closed: the revision of its current outputs.
    revision: int = 0
    closed_at: datetime | None = None
    closed_by: str | None = None
    reopened_at: datetime | None = None
    reopened_by: str | None = None
    reopen_motive: str | None = None


def phase(life: MonthLife, now: datetime, cutoff: Cutoff = DEFAULT_CUTOFF) -> MonthPhase:
    if life.closed:
        return MonthPhase.CLOSED
    if as_utc(now) >= cutoff.at(life.month):
        return MonthPhase.IN_REVIEW
    return MonthPhase.OPEN


def days_to_cutoff(month: Month, now: datetime, cutoff: Cutoff = DEFAULT_CUTOFF) -> int:
    """Calendar days (Paris) from today to the cut-off day; 0 on the day, negative after."""
    return (to_paris(cutoff.at(month)).date() - to_paris(now).date()).days


def check_writable(life: MonthLife) -> None:
    """Refuse a write to a closed month."""
    if life.closed:
        raise MonthClosedError(life.month)


def months_of(days: Iterable[date | None]) -> set[Month]:
    return {Month.of(day) for day in days if day is not None}


class Validation(enum.StrEnum):
    MISSING = "missing"
    VALID = "valid"
    STALE = "stale"

    @property
    def label(self) -> str:
        return {
            Validation.MISSING: "À valider",
            Validation.VALID: "Validé",
            Validation.STALE: "À revalider (chiffres modifiés depuis la validation)",
        }[self]


def funder_key(funder_code: str) -> str:
    return funder_code or OUTSIDE_PLAN


def funder_digests(lines: Iterable[Line]) -> dict[str, str]:
    """A digest of each funder's pro-forma lines: a validation holds for these exact figures."""
    by_funder: dict[str, list[tuple[object, ...]]] = {}
    for line in lines:
        key = line.key
        by_funder.setdefault(funder_key(key.funder_code), []).append(
            (
                key.beneficiary_id,
                key.plan_id or 0,
                key.service_code,
                key.worker_id,
                key.category.value,
                line.visits,
                line.kept_minutes,
            )
        )
    return {
        code: hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()
        for code, rows in by_funder.items()
    }


def validation_state(given: str | None, current: str | None) -> Validation:
    if given is None:
        return Validation.MISSING
    return Validation.VALID if given == current else Validation.STALE


def check_validate(life: MonthLife, now: datetime, cutoff: Cutoff = DEFAULT_CUTOFF) -> None:
    """A funder's pro-forma is validated only in review: before, figures may still move."""
    current = phase(life, now, cutoff)
    if current is MonthPhase.CLOSED:
        raise ClosingError(f"Le mois de {life.month.label} est déjà clôturé.")
    if current is MonthPhase.OPEN:
        raise ClosingError(
            f"Le pro forma de {life.month.label} se valide après la date limite de correction "
            f"({cutoff.label(life.month)})."
        )


def close(
    life: MonthLife,
    *,
    now: datetime,
    actor: str,
    validations: Mapping[str, str],
    current: Mapping[str, str],
    cutoff: Cutoff = DEFAULT_CUTOFF,
) -> MonthLife:
    """Close a month in review whose every funder is validated on its current figures.

    ``validations`` and ``current`` map funder keys (``funder_key``) to digests
    (``funder_digests``): what the referents validated, and what the figures are now.
    """
    check_validate(life, now, cutoff)
    pending = sorted(
        code
        for code, digest in current.items()
        if validation_state(validations.get(code), digest) is not Validation.VALID
    )
    if pending:
        names = ", ".join("hors plan" if c == OUTSIDE_PLAN else c for c in pending)
        raise ClosingError(
            f"Le mois de {life.month.label} ne peut pas être clôturé : pro forma à valider "
            f"pour {names}."
        )
    return replace(
        life, closed=True, revision=life.revision + 1, closed_at=as_utc(now), closed_by=actor
    )


MIN_MOTIVE = 5


def reopen(life: MonthLife, *, now: datetime, actor: str, motive: str) -> MonthLife:
    """Reopen a closed month; the motive says why (it goes to the audit journal too)."""
    if not life.closed:
        raise ClosingError(f"Le mois de {life.month.label} n'est pas clôturé.")
    text = " ".join(motive.split())
    if len(text) < MIN_MOTIVE:
        raise ClosingError("Le motif de réouverture est obligatoire (quelques mots au moins).")
    return replace(
        life, closed=False, reopened_at=as_utc(now), reopened_by=actor, reopen_motive=text
    )
