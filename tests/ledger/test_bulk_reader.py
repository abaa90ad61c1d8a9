"""``ledger.bulk.read_in`` with ``row_decoder`` reads what a Core ``select()`` reads,
and ``row_encoder`` gives a row's values as ``read_in`` returns them stored."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from ledger.bulk import read_in, row_decoder, row_encoder
from ledger.models import Beneficiary, CarePlan, Civility
from tests import factories

PLAN = ("id", "beneficiary_id", "funder_id", "service_code", "reference", "max_hours")
PLAN_READ = (*PLAN, "starts_on", "ends_on")
PERSON = ("civility", "last_name", "birth_date", "gir", "care_start", "care_end", "sex")

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2090, 12, 31))


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    starts_on = draw(days)
    length = draw(st.none() | st.integers(min_value=0, max_value=3000))
    return {
        "service_code": draw(st.sampled_from(["AIDE", "MENAGE"])),
        "reference": draw(st.text("ABC-0123", max_size=8)),
        "max_hours": float(draw(st.decimals(min_value=0, max_value=99999, places=2))),
        "starts_on": starts_on,
        "ends_on": None if length is None else starts_on + timedelta(days=length),
    }


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(plans(), min_size=1, max_size=5))
def test_decoded_rows_equal_core_selects(session: Session, values: list[dict[str, Any]]) -> None:
    ben = factories.beneficiary(session, factories.antenna(session))
    funder = factories.funder(session)
    table = _table(CarePlan)
    session.execute(
        insert(table), [{**v, "beneficiary_id": ben.id, "funder_id": funder.id} for v in values]
    )
    connection = session.connection()
    decode = row_decoder(table, PLAN_READ, connection.dialect)
    read = sorted(map(decode, read_in(connection, table, PLAN_READ, "beneficiary_id", [ben.id])))
    core = session.execute(
        select(*(table.c[name] for name in PLAN_READ))
        .where(table.c.beneficiary_id == ben.id)
        .order_by(table.c.id)
    ).all()
    assert read == [tuple(row) for row in core]
    session.rollback()


def test_encoded_values_equal_stored_ones(session: Session) -> None:
    ben = factories.beneficiary(session, factories.antenna(session))
    ben.civility = Civility.MRS
    ben.birth_date = date(1938, 4, 2)
    ben.gir = 3
    ben.care_end = None
    ben.sex = "F"
    session.flush()
    table = _table(Beneficiary)
    connection = session.connection()
    wanted = {name: getattr(ben, name) for name in PERSON}
    (stored,) = read_in(connection, table, PERSON, "external_id", [ben.external_id])
    assert stored == tuple(row_encoder(table, list(PERSON), connection.dialect)(wanted))
    # Only the rows asked for; an active day leaves out those ended before it.
    assert read_in(connection, table, ("id",), "external_id", ["nobody"]) == []
    assert read_in(connection, table, ("id",), "id", []) == []
    on = ("care_end", date(2026, 11, 23))
    assert read_in(connection, table, ("id",), "id", [ben.id], active_on=on) == [(ben.id,)]
    ben.care_end = date(2026, 11, 22)
    session.flush()
    assert read_in(connection, table, ("id",), "id", [ben.id], active_on=on) == []
    session.rollback()
