"""``flows.bulk.WriteBehind``: the rows and ids ``insert_many`` gives, the server's
error where it is awaited, and an import that fails with a write behind rolls
back as any other (decision 0205, sixth pass)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session, sessionmaker

from flows import importer
from flows.bulk import WriteBehind, insert_many
from flows.importer import import_file
from ledger.models import Antenna, Beneficiary, Phone
from tests.flows.files import ben_row, bens_file, world
from tests.flows.test_bulk_insert import _rows, _stored


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def test_write_behind_writes_what_insert_many_writes(session: Session) -> None:
    antenna = Antenna(code="P11", name="Antenne", address="")
    session.add(antenna)
    session.flush()
    insert_many(session.connection(), _table(Beneficiary), _rows("MANY", antenna.id))
    before = session.scalar(select(func.max(Beneficiary.id))) or 0
    behind = WriteBehind(session.connection())
    ids = behind.insert_new(_table(Beneficiary), _rows("BEHIND", antenna.id), "external_id")
    phones = [
        {
            "beneficiary_id": ids[f"BEHIND{n}"],
            "e164": f"+3314567890{n % 10}",
            "kind": "landline",
            "active_from": date(2025, 1, 1),
            "active_until": None,
        }
        for n in range(25)
    ]
    behind.insert(_table(Phone), phones)
    behind.send()
    behind.wait()
    behind.close()
    # The ids follow the largest, in the rows' order, as a COPY's would.
    assert [ids[f"BEHIND{n}"] for n in range(25)] == list(range(before + 1, before + 26))
    assert _stored(session, "BEHIND") == _stored(session, "MANY")
    assert session.scalars(
        select(Phone.beneficiary_id)
        .where(Phone.beneficiary_id.in_(ids.values()))
        .order_by(Phone.id)
    ).all() == [ids[f"BEHIND{n}"] for n in range(25)]
    session.rollback()


def test_the_servers_error_is_raised_where_it_is_awaited(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("elsewhere rows are written at once")
    behind = WriteBehind(session.connection())
    behind.insert(
        _table(Phone),
        [
            {
                "beneficiary_id": 999_999,
                "e164": "+33145678901",
                "kind": "landline",
                "active_from": date(2025, 1, 1),
                "active_until": None,
            }
        ],
    )
    behind.send()
    with pytest.raises(Exception, match="foreign key"):
        behind.wait()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Phone)) == 0


def test_an_import_that_fails_with_a_write_behind_applies_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "CHUNK_LINES", 2)
    world(session)
    path = bens_file(tmp_path / "in", [ben_row(f"BEN{n:03d}") for n in range(5)])

    def stop(done: int, size: int) -> None:
        # After the first chunk: its rows were sent and not yet awaited.
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(session_factory, path, tmp_path, progress=stop)
    assert session.scalar(select(func.count()).select_from(Beneficiary)) == 0
    # The connection went back to the pool usable: the same file imports.
    report = import_file(session_factory, path, tmp_path)
    assert report.created == 5
