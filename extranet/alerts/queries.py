"""The customer's alerts. Each one is a query: it disappears when its cause is resolved.

* incomplete calls of the current month: resolved by a correction or an attachment;
* new beneficiaries with a Département aid, and without: resolved when a manager
  marks the file as checked (an ``AlertAck``);
* care plans ending within two months: resolved by the renewed plan arriving
  from the planning software, or by a manager noting that renewal was requested;
* definitive absences (move, nursing home, death) while care goes on: resolved
  when the care ends, or by a manager noting the file was checked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Exists, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased, joinedload

from extranet.calls.queries import Incomplete, incomplete_page
from extranet.models import AlertAck, User
from extranet.scope import scope
from ledger.models import (
    DEPARTEMENT_FUNDERS,
    Absence,
    AbsenceKind,
    Beneficiary,
    CarePlan,
    Funder,
)

#: A beneficiary whose care started this many days ago or less is new.
NEW_DAYS = 30
#: Plans ending within this many days are announced.
ENDING_DAYS = 61
LIMIT = 200


class AlertKind(enum.StrEnum):
    INCOMPLETE_CALL = "incomplete_call"
    NEW_WITH_DEPARTEMENT = "new_with_departement"
    NEW_WITHOUT_DEPARTEMENT = "new_without_departement"
    PLAN_ENDING = "plan_ending"
    DEFINITIVE_ABSENCE = "definitive_absence"

    @property
    def label(self) -> str:
        return {
            AlertKind.INCOMPLETE_CALL: "Appels incomplets du mois",
            AlertKind.NEW_WITH_DEPARTEMENT: "Nouveaux bénéficiaires avec une aide du Département",
            AlertKind.NEW_WITHOUT_DEPARTEMENT: "Nouveaux bénéficiaires sans aide du Département",
            AlertKind.PLAN_ENDING: "Plans d'aide se terminant dans les deux mois",
            AlertKind.DEFINITIVE_ABSENCE: (
                "Absences définitives (déménagement, établissement, décès) : "
                "prise en charge à terminer"
            ),
        }[self]

    @property
    def ack_label(self) -> str:
        return "Renouvellement demandé" if self is AlertKind.PLAN_ENDING else "Dossier vérifié"


@dataclass(frozen=True)
class Alerts:
    incomplete: list[Incomplete]
    new_with: list[Beneficiary]
    new_without: list[Beneficiary]
    plans_ending: list[CarePlan]
    definitive_absences: list[Absence]
    #: More incomplete calls than the ``LIMIT`` listed (all on the incomplete-calls page).
    more_incomplete: bool = False

    @property
    def total(self) -> int:
        return (
            len(self.incomplete)
            + len(self.new_with)
            + len(self.new_without)
            + len(self.plans_ending)
            + len(self.definitive_absences)
        )


def _not_acked(kind: AlertKind, column: Any) -> ColumnElement[bool]:
    return ~exists().where(AlertAck.kind == kind.value, AlertAck.object_id == column)


def _departement_plan(today: date) -> Exists:
    return exists().where(
        CarePlan.beneficiary_id == Beneficiary.id,
        CarePlan.funder_id == Funder.id,
        Funder.kind.in_(sorted(DEPARTEMENT_FUNDERS)),
        or_(CarePlan.ends_on.is_(None), CarePlan.ends_on >= today),
    )


def new_beneficiaries(
    session: Session,
    user: User,
    today: date,
    *,
    departement: bool,
    antenna_id: int | None = None,
    beneficiary_id: int | None = None,
) -> list[Beneficiary]:
    kind = AlertKind.NEW_WITH_DEPARTEMENT if departement else AlertKind.NEW_WITHOUT_DEPARTEMENT
    has_plan = _departement_plan(today)
    query = (
        select(Beneficiary)
        .options(joinedload(Beneficiary.antenna))
        .where(
            Beneficiary.care_start >= today - timedelta(days=NEW_DAYS),
            Beneficiary.care_start <= today,
            has_plan if departement else ~has_plan,
            _not_acked(kind, Beneficiary.id),
        )
        .order_by(Beneficiary.care_start, Beneficiary.id)
        .limit(LIMIT)
    )
    if antenna_id is not None:
        query = query.where(Beneficiary.antenna_id == antenna_id)
    if beneficiary_id is not None:
        query = query.where(Beneficiary.id == beneficiary_id)
    return list(session.scalars(scope(query, user, Beneficiary)).all())


def plans_ending(
    session: Session,
    user: User,
    today: date,
    antenna_id: int | None = None,
    *,
    beneficiary_id: int | None = None,
) -> list[CarePlan]:
    later = aliased(CarePlan)
    renewed = exists().where(
        later.beneficiary_id == CarePlan.beneficiary_id,
        later.funder_id == CarePlan.funder_id,
        later.id != CarePlan.id,
        later.starts_on > CarePlan.starts_on,
        or_(later.ends_on.is_(None), later.ends_on > CarePlan.ends_on),
    )
    query = (
        select(CarePlan)
        .join(Beneficiary, Beneficiary.id == CarePlan.beneficiary_id)
        .options(joinedload(CarePlan.funder), joinedload(CarePlan.beneficiary))
        .where(
            and_(
                CarePlan.ends_on >= today, CarePlan.ends_on <= today + timedelta(days=ENDING_DAYS)
            ),
            ~renewed,
            _not_acked(AlertKind.PLAN_ENDING, CarePlan.id),
            or_(Beneficiary.care_end.is_(None), Beneficiary.care_end > CarePlan.ends_on),
        )
        .order_by(CarePlan.ends_on, CarePlan.id)
        .limit(LIMIT)
    )
    if antenna_id is not None:
        query = query.where(Beneficiary.antenna_id == antenna_id)
    if beneficiary_id is not None:
        query = query.where(CarePlan.beneficiary_id == beneficiary_id)
    return list(session.scalars(scope(query, user, CarePlan)).all())


def definitive_absences(
    session: Session,
    user: User,
    today: date,
    antenna_id: int | None = None,
    *,
    beneficiary_id: int | None = None,
) -> list[Absence]:
    """Definitive absences begun while the beneficiary's care goes on past their start.

    Resolved when the planning software ends the care (beneficiaries file), or
    when a manager notes the file was checked.
    """
    query = (
        select(Absence)
        .join(Beneficiary, Beneficiary.id == Absence.beneficiary_id)
        .options(joinedload(Absence.beneficiary))
        .where(
            Absence.kind.in_(sorted(k for k in AbsenceKind if k.definitive)),
            Absence.starts_on <= today,
            or_(Beneficiary.care_end.is_(None), Beneficiary.care_end >= Absence.starts_on),
            _not_acked(AlertKind.DEFINITIVE_ABSENCE, Absence.id),
        )
        .order_by(Absence.starts_on, Absence.id)
        .limit(LIMIT)
    )
    if antenna_id is not None:
        query = query.where(Beneficiary.antenna_id == antenna_id)
    if beneficiary_id is not None:
        query = query.where(Absence.beneficiary_id == beneficiary_id)
    return list(session.scalars(scope(query, user, Absence)).all())


def all_alerts(
    session: Session, user: User, today: date, now: datetime, antenna_id: int | None = None
) -> Alerts:
    calls = incomplete_page(
        session,
        user,
        since=today.replace(day=1),
        until=today,
        now=now,
        antenna_id=antenna_id,
        limit=LIMIT,
        raw_calls=False,
    )
    return Alerts(
        incomplete=calls.items,
        more_incomplete=calls.next is not None,
        new_with=new_beneficiaries(session, user, today, departement=True, antenna_id=antenna_id),
        new_without=new_beneficiaries(
            session, user, today, departement=False, antenna_id=antenna_id
        ),
        plans_ending=plans_ending(session, user, today, antenna_id),
        definitive_absences=definitive_absences(session, user, today, antenna_id),
    )


@dataclass(frozen=True)
class OpenAlert:
    kind: AlertKind
    object_id: int
    text: str


def open_alerts_for_beneficiary(
    session: Session, user: User, beneficiary: Beneficiary, today: date
) -> list[OpenAlert]:
    """The acknowledgeable alerts about one beneficiary (shown on their page).

    Each list is asked for this beneficiary alone: the antenna's lists stop at
    ``LIMIT``, and one beneficiary's alert past it was missing from their page.
    """
    found: list[OpenAlert] = []
    for departement in (True, False):
        kind = AlertKind.NEW_WITH_DEPARTEMENT if departement else AlertKind.NEW_WITHOUT_DEPARTEMENT
        if new_beneficiaries(
            session, user, today, departement=departement, beneficiary_id=beneficiary.id
        ):
            found.append(OpenAlert(kind, beneficiary.id, kind.label))
    for plan in plans_ending(session, user, today, beneficiary_id=beneficiary.id):
        found.append(
            OpenAlert(
                AlertKind.PLAN_ENDING,
                plan.id,
                f"Le plan d'aide {plan.funder.name} se termine le "
                f"{plan.ends_on.strftime('%d/%m/%Y') if plan.ends_on else ''}",
            )
        )
    for absence in definitive_absences(session, user, today, beneficiary_id=beneficiary.id):
        found.append(
            OpenAlert(
                AlertKind.DEFINITIVE_ABSENCE,
                absence.id,
                f"{absence.label} le {absence.starts_on.strftime('%d/%m/%Y')} : "
                "la prise en charge est toujours en cours",
            )
        )
    return found
