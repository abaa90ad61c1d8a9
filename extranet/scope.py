"""Who sees what: the ONE place where queries are restricted to a user's antennas.

Every query of organisation data in the extranet goes through ``scope`` (lists,
exports, statistics) or ``get_in_scope`` (one object by id). An object outside
the user's scope is reported as not found, so that its existence does not leak.

The one who looks is a ``Viewer``: an extranet ``User`` or a REST API token
(``extranet.models.ApiToken``), both answering the same two questions.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session

from extranet.models import AlertAck
from ledger.models import (
    Absence,
    Antenna,
    AuditEntry,
    Beneficiary,
    CallEvent,
    CarePlan,
    Phone,
    PlannedVisit,
    Visit,
    Worker,
)

T = TypeVar("T")


class Viewer(Protocol):
    """Whoever reads organisation data: a user, or an API token."""

    @property
    def sees_all_antennas(self) -> bool: ...

    @property
    def antenna_id(self) -> int | None: ...

    @property
    def antenna(self) -> Antenna | None: ...


S = TypeVar("S", bound=Select)  # type: ignore[type-arg]


def _antenna_columns() -> dict[type, Any]:
    columns: dict[type, Any] = {
        Visit: Visit.antenna_id,
        CallEvent: CallEvent.antenna_id,
        Beneficiary: Beneficiary.antenna_id,
        Worker: Worker.antenna_id,
        PlannedVisit: PlannedVisit.antenna_id,
        AuditEntry: AuditEntry.antenna_id,
        AlertAck: AlertAck.antenna_id,
    }
    try:
        from archive.models import ArchivedStatement
    except ModuleNotFoundError:  # the archive is an optional package
        pass
    else:
        columns[ArchivedStatement] = ArchivedStatement.antenna_id
    return columns


def _area_columns() -> dict[type, Any]:
    """Models scoped by arrondissement (postcode) against the antenna's ``areas``."""
    try:
        from billing_export.models import ReceivedInvoice
    except ModuleNotFoundError:  # billing is an optional package
        return {}
    return {ReceivedInvoice: ReceivedInvoice.area}


#: Models reached through their beneficiary.
_THROUGH_BENEFICIARY: dict[type, Any] = {
    Absence: Absence.beneficiary_id,
    CarePlan: CarePlan.beneficiary_id,
    Phone: Phone.beneficiary_id,
}


def antenna_ids(user: Viewer) -> frozenset[int] | None:
    """The antennas a user sees; None means all of them."""
    if user.sees_all_antennas:
        return None
    assert user.antenna_id is not None  # a database constraint for managers
    return frozenset({user.antenna_id})


def condition(user: Viewer, model: type) -> ColumnElement[bool]:
    """The WHERE clause restricting ``model`` rows to what ``user`` may see."""
    ids = antenna_ids(user)
    if ids is None:
        return true()
    columns = _antenna_columns()
    if model in columns:
        return columns[model].in_(sorted(ids))  # type: ignore[no-any-return]
    areas = _area_columns()
    if model in areas:
        antenna = user.antenna
        codes = sorted(
            {a.strip() for a in (antenna.areas if antenna else "").split(",") if a.strip()}
        )
        # An invoice without an arrondissement ("") is never an antenna's.
        return areas[model].in_(codes)  # type: ignore[no-any-return]
    if model in _THROUGH_BENEFICIARY:
        return _THROUGH_BENEFICIARY[model].in_(  # type: ignore[no-any-return]
            select(Beneficiary.id).where(Beneficiary.antenna_id.in_(sorted(ids)))
        )
    raise TypeError(f"no scoping rule for {model.__name__}: add one here")


def scope(query: S, user: Viewer, *models: type) -> S:
    """Restrict ``query`` on each of ``models`` to the user's antennas."""
    for model in models:
        query = query.where(condition(user, model))
    return query


def get_in_scope(session: Session, model: type[T], object_id: int, user: Viewer) -> T | None:
    """One object by id, or None when it does not exist or is outside the scope."""
    pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    return session.scalars(scope(select(model).where(pk == object_id), user, model)).first()


def can_access(user: Viewer, antenna_id: int | None) -> bool:
    """Whether an object of this antenna (None: no antenna) is visible to the user."""
    ids = antenna_ids(user)
    return ids is None or (antenna_id is not None and antenna_id in ids)
