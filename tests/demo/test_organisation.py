from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from demo.organisation import DemoError, load_demo
from ledger.models import (
    Beneficiary,
    CallEvent,
    CallOutcome,
    Identification,
    Phone,
    Visit,
    VisitStatus,
)
from ledger.pairing import Direction
from ledger.service import CallRecord, record_call

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _load(session: Session, seed: int = 7) -> object:
    summary = load_demo(session, seed=seed, workers=24, beneficiaries=150, days=4, now=NOW)
    session.commit()
    return summary


def test_demo_is_consistent_and_reproducible(session: Session, engine: Engine) -> None:
    _load(session)
    assert session.scalar(select(func.count()).select_from(Beneficiary)) == 150
    phones = session.execute(
        select(Phone.beneficiary_id, func.count()).group_by(Phone.beneficiary_id)
    ).all()
    assert len(phones) == 150 and all(1 <= n <= 3 for _, n in phones)
    visits = session.scalars(select(Visit)).all()
    incomplete = [v for v in visits if v.status is VisitStatus.INCOMPLETE]
    assert 0 < len(incomplete) < len(visits) * 0.2
    # Every complete visit links its two calls, made by its worker at its home.
    for visit in visits:
        if visit.status is VisitStatus.COMPLETE:
            arrival = session.get_one(CallEvent, visit.arrival_event_id)
            departure = session.get_one(CallEvent, visit.departure_event_id)
            assert arrival.worker_id == departure.worker_id == visit.worker_id
            assert arrival.beneficiary_id == visit.beneficiary_id
            assert visit.started_at is not None and visit.started_at.replace(tzinfo=UTC) <= NOW
    # The live path still works after the bulk load (ids and sequences agree).
    ben = session.get_one(Beneficiary, 1)
    worker_id = session.scalars(select(Visit.worker_id)).first()
    result = record_call(
        session,
        CallRecord(
            channel_id="live-1",
            received_at=NOW,
            answered_at=NOW,
            caller_raw=None,
            ani_raw=None,
            called_number=None,
            digits="1",
            code_completed_at=NOW,
            beneficiary_id=ben.id,
            worker_id=worker_id,
            identification=Identification.OK,
            direction=Direction.ARRIVAL,
            outcome=CallOutcome.RECORDED,
        ),
    )
    session.commit()
    assert result.visit_id is not None
    with pytest.raises(DemoError):
        load_demo(session, seed=7, workers=2, beneficiaries=2, days=1, now=NOW)
    session.rollback()


def test_same_seed_same_organisation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from config.database import create_schema
    from ledger.db import make_engine

    summaries = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.sqlite3")
        create_schema(engine)
        with Session(engine) as s:
            summaries.append(_load(s, seed=11))
            summaries.append(
                s.scalars(select(Beneficiary.last_name).order_by(Beneficiary.id)).all()
            )
        engine.dispose()
    assert summaries[0] == summaries[2] and summaries[1] == summaries[3]
