"""``flows.bulk.insert_many`` writes what SQLAlchemy's Core insert writes, in order."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from flows.bulk import insert_many
from ledger.models import Antenna, Beneficiary, CarePlan, Civility, Funder, FunderKind


def _rows(prefix: str, antenna_id: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{prefix}{n}",
            "civility": Civility.MRS if n % 2 else Civility.MR,
            "last_name": "Lefèvre",
            "first_name": "Hélène",
            "address": "1 rue de la Roquette",
            "postcode": "75011",
            "city": "Paris",
            "birth_date": date(1940, 5, 17) if n % 3 else None,
            "gir": n % 6 + 1,
            "antenna_id": antenna_id,
            "care_start": date(2025, 1, 1),
            "care_end": None,
            "sex": "F" if n % 2 else None,
        }
        for n in range(25)
    ]


def _stored(session: Session, prefix: str) -> list[tuple[Any, ...]]:
    columns = [c for c in Beneficiary.__table__.columns if c.key not in ("id", "created_at")]
    return [
        (row[0][len(prefix) :], *row[1:])
        for row in session.execute(
            select(*columns)
            .where(Beneficiary.external_id.startswith(prefix))
            .order_by(Beneficiary.id)
        )
    ]


def test_insert_many_writes_what_core_writes(session: Session) -> None:
    antenna = Antenna(code="P11", name="Antenne", address="")
    funder = Funder(code="APA75", name="APA", kind=FunderKind.APA)
    session.add_all([antenna, funder])
    session.flush()
    table = Beneficiary.__table__
    assert isinstance(table, Table)
    session.connection().execute(insert(table), _rows("CORE", antenna.id))
    insert_many(session.connection(), table, _rows("MANY", antenna.id))
    assert _stored(session, "MANY") == _stored(session, "CORE")
    created = session.scalars(
        select(Beneficiary.created_at).where(Beneficiary.external_id.startswith("MANY"))
    ).all()
    assert len(created) == 25 and all(c is not None for c in created)
    ids = session.scalars(
        select(Beneficiary.id)
        .where(Beneficiary.external_id.startswith("MANY"))
        .order_by(Beneficiary.external_id)
    ).all()
    by_number = dict(zip(sorted(f"MANY{n}" for n in range(25)), ids, strict=True))
    assert [by_number[f"MANY{n}"] for n in range(25)] == sorted(ids)  # inserted in order

    plans = [
        {
            "beneficiary_id": ids[0],
            "funder_id": funder.id,
            "service_code": "AIDE",
            "reference": "",
            "max_hours": hours,
            "starts_on": date(2026, 1, 1),
            "ends_on": None,
        }
        for hours in (20.0, 45.5, 20.0)
    ]
    plans_table = CarePlan.__table__
    assert isinstance(plans_table, Table)
    insert_many(session.connection(), plans_table, plans)
    assert session.scalars(
        select(CarePlan.max_hours).where(CarePlan.beneficiary_id == ids[0]).order_by(CarePlan.id)
    ).all() == [20.0, 45.5, 20.0]
    session.rollback()
