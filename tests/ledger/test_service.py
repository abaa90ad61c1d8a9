"""The ledger's write service against a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger import service
from ledger.db import ImmutableRecordError
from ledger.models import (
    AuditEntry,
    CallEvent,
    CallOutcome,
    Identification,
    Visit,
    VisitStatus,
    VisitVersion,
)
from ledger.motives import Motive
from ledger.pairing import Direction, Inference
from ledger.service import CallRecord, LedgerError
from tests.factories import SmallOrg

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def record(
    channel: str,
    at: datetime,
    *,
    worker_id: int | None,
    beneficiary_id: int | None,
    direction: Direction | None,
    outcome: CallOutcome = CallOutcome.RECORDED,
    identification: Identification = Identification.OK,
    caller: str | None = "0145678901",
) -> CallRecord:
    return CallRecord(
        channel_id=channel,
        received_at=at - timedelta(seconds=1),
        answered_at=at,
        caller_raw=caller,
        ani_raw=caller,
        called_number="0800123456",
        digits="1234",
        code_completed_at=at + timedelta(seconds=6),
        beneficiary_id=beneficiary_id,
        worker_id=worker_id,
        identification=identification,
        direction=direction,
        outcome=outcome,
    )


def arrive_and_leave(session: Session, org: SmallOrg, minutes: int = 60) -> Visit:
    w, b = org.worker_a1.id, org.ben_a1.id
    service.record_call(
        session, record("c1", T0, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
    )
    end = T0 + timedelta(minutes=minutes)
    result = service.record_call(
        session, record("c2", end, worker_id=w, beneficiary_id=b, direction=Direction.DEPARTURE)
    )
    session.commit()
    assert result.visit_id is not None
    return session.get_one(Visit, result.visit_id)


def test_lookup_by_any_of_the_beneficiarys_numbers(session: Session, org: SmallOrg) -> None:
    today = date(2026, 11, 23)
    for raw in ("01 45 67 89 01", "+33 6 12 34 56 78", "0033612345678"):
        found = service.find_beneficiary_by_number(session, raw, today)
        assert found is not None and found.id == org.ben_a1.id
    assert service.find_beneficiary_by_number(session, "0199999999", today) is None
    assert service.find_beneficiary_by_number(session, None, today) is None


def test_worker_code_lookup_respects_active_dates(session: Session, org: SmallOrg) -> None:
    assert service.find_worker_by_code(session, "1234", date(2026, 11, 23)) == org.worker_a1
    org.worker_a1.active_until = date(2026, 1, 1)
    session.commit()
    assert service.find_worker_by_code(session, "1234", date(2026, 11, 23)) is None


def test_arrival_then_departure_makes_a_complete_visit(session: Session, org: SmallOrg) -> None:
    visit = arrive_and_leave(session, org)
    assert visit.status is VisitStatus.COMPLETE
    assert visit.ended_at is not None and visit.started_at is not None
    assert visit.version == 2
    assert [v.author for v in visit.versions] == ["system:ivr", "system:ivr"]
    assert visit.antenna_id == org.antenna_a.id


def test_direction_follows_the_ledger(session: Session, org: SmallOrg) -> None:
    w, b = org.worker_a1.id, org.ben_a1.id
    assert service.direction_for(session, w, b, T0) is Inference.ARRIVAL
    service.record_call(
        session, record("c1", T0, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
    )
    assert service.direction_for(session, w, b, T0 + timedelta(hours=1)) is Inference.DEPARTURE
    # Another worker at the same home is not affected.
    assert service.direction_for(session, org.worker_a2.id, b, T0) is Inference.ARRIVAL


def test_replaying_a_call_is_idempotent(session: Session, org: SmallOrg) -> None:
    rec = record(
        "same",
        T0,
        worker_id=org.worker_a1.id,
        beneficiary_id=org.ben_a1.id,
        direction=Direction.ARRIVAL,
    )
    first = service.record_call(session, rec)
    again = service.record_call(session, rec)
    session.commit()
    assert again.already_recorded and again.event_id == first.event_id
    assert again.visit_id == first.visit_id
    assert session.scalar(select(text("count(*)")).select_from(CallEvent)) == 1


def test_unknown_number_is_recorded_without_visit(session: Session, org: SmallOrg) -> None:
    result = service.record_call(
        session,
        record(
            "u1",
            T0,
            worker_id=org.worker_a1.id,
            beneficiary_id=None,
            direction=None,
            identification=Identification.UNKNOWN_NUMBER,
            caller="0611111111",
        ),
    )
    session.commit()
    event = session.get_one(CallEvent, result.event_id)
    assert result.visit_id is None
    assert event.caller_e164 == "+33611111111"
    assert event.antenna_id == org.antenna_a.id  # scoped by the worker when the home is unknown


def test_raw_events_cannot_be_modified_through_the_orm(session: Session, org: SmallOrg) -> None:
    arrive_and_leave(session, org)
    event = session.scalars(select(CallEvent)).first()
    assert event is not None
    event.digits = "9999"
    with pytest.raises(ImmutableRecordError):
        session.flush()
    session.rollback()
    session.delete(session.scalars(select(CallEvent)).first())
    with pytest.raises(ImmutableRecordError):
        session.flush()


@pytest.mark.parametrize("model", [CallEvent, VisitVersion, AuditEntry])
def test_append_only_tables_refuse_raw_sql(session: Session, org: SmallOrg, model: type) -> None:
    arrive_and_leave(session, org)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(model).values(id=model.id))  # type: ignore[attr-defined]
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(model))
    session.rollback()


def test_correction_is_a_new_version_with_who_when_why(session: Session, org: SmallOrg) -> None:
    visit = arrive_and_leave(session, org)
    new_end = T0 + timedelta(minutes=75)
    service.correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=new_end,
        motive=Motive.TIME_ERROR,
        comment="départ oublié",
        author="manager.nord",
    )
    session.commit()
    session.refresh(visit)
    assert visit.status is VisitStatus.CORRECTED and visit.version == 3
    latest = visit.versions[-1]
    assert (latest.author, latest.motive, latest.comment) == (
        "manager.nord",
        Motive.TIME_ERROR,
        "départ oublié",
    )
    # Earlier versions and the raw calls are untouched.
    assert visit.versions[1].ended_at is not None
    assert visit.versions[1].ended_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=60)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.actor == "manager.nord")).one()
    assert audit.details["before"]["ended_at"] != audit.details["after"]["ended_at"]


def test_a_correction_moves_the_visit_to_a_colleague_and_a_neighbour(
    session: Session, org: SmallOrg
) -> None:
    visit = arrive_and_leave(session, org)
    calls_before = [
        (e.id, e.worker_id, e.beneficiary_id) for e in session.scalars(select(CallEvent))
    ]
    service.correct_visit(
        session,
        visit,
        started_at=visit.started_at,
        ended_at=visit.ended_at,
        motive=Motive.WRONG_CODE,
        comment="code de sa collègue",
        author="manager.nord",
        worker=org.worker_a2,
        beneficiary=org.ben_a2,
    )
    session.commit()
    session.refresh(visit)
    assert (visit.worker_id, visit.beneficiary_id) == (org.worker_a2.id, org.ben_a2.id)
    latest = visit.versions[-1]
    assert (latest.version, latest.motive) == (3, Motive.WRONG_CODE)
    assert latest.moved_from_worker_id == org.worker_a1.id
    assert latest.moved_from_beneficiary_id == org.ben_a1.id
    assert visit.versions[1].moved_from_worker_id is None
    # The raw calls still say who called from where.
    calls_after = [
        (e.id, e.worker_id, e.beneficiary_id) for e in session.scalars(select(CallEvent))
    ]
    assert calls_after == calls_before
    entry = session.scalars(select(AuditEntry).where(AuditEntry.actor == "manager.nord")).one()
    assert entry.details["before"]["worker_id"] == org.worker_a1.id
    assert entry.details["after"]["worker_id"] == org.worker_a2.id


def test_a_visit_cannot_move_to_another_antenna(session: Session, org: SmallOrg) -> None:
    visit = arrive_and_leave(session, org)
    with pytest.raises(LedgerError, match="antenne"):
        service.correct_visit(
            session, visit, started_at=visit.started_at, ended_at=visit.ended_at,
            motive=Motive.WRONG_CODE, comment="", author="m", worker=org.worker_b1,
        )  # fmt: skip
    with pytest.raises(LedgerError, match="antenne"):
        service.correct_visit(
            session, visit, started_at=visit.started_at, ended_at=visit.ended_at,
            motive=Motive.CALL_FROM_OTHER_PHONE, comment="", author="m", beneficiary=org.ben_b1,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("motive", "comment", "start", "end", "message"),
    [
        (None, "", 0, 60, "motif"),
        (Motive.OTHER, " ", 0, 60, "Précisez"),
        (Motive.TIME_ERROR, "", 60, 0, "suivre"),
        (Motive.TIME_ERROR, "", 0, 60 * 15, "14 heures"),
    ],
)
def test_bad_corrections_are_refused(
    session: Session,
    org: SmallOrg,
    motive: Motive | None,
    comment: str,
    start: int,
    end: int,
    message: str,
) -> None:
    visit = arrive_and_leave(session, org)
    with pytest.raises(LedgerError, match=message):
        service.correct_visit(
            session,
            visit,
            started_at=T0 + timedelta(minutes=start),
            ended_at=T0 + timedelta(minutes=end),
            motive=motive,
            comment=comment,
            author="m",
        )


def test_deletion_keeps_the_visit_as_a_deleted_version(session: Session, org: SmallOrg) -> None:
    visit = arrive_and_leave(session, org)
    service.correct_visit(
        session,
        visit,
        started_at=None,
        ended_at=None,
        motive=Motive.DUPLICATE_CALL,
        comment="",
        author="m",
        delete=True,
    )
    session.commit()
    assert session.get_one(Visit, visit.id).status is VisitStatus.DELETED


def test_manual_visit(session: Session, org: SmallOrg) -> None:
    visit = service.enter_manual_visit(
        session,
        worker=org.worker_a1,
        beneficiary=org.ben_a1,
        started_at=T0,
        ended_at=T0 + timedelta(hours=2),
        motive=Motive.PHONE_OUT_OF_ORDER,
        comment="",
        author="manager.nord",
    )
    session.commit()
    assert visit.status is VisitStatus.MANUAL and visit.arrival_event_id is None
    assert visit.service_date == date(2026, 11, 23)


def test_attach_unknown_call_and_learn_the_number(session: Session, org: SmallOrg) -> None:
    result = service.record_call(
        session,
        record(
            "u1",
            T0,
            worker_id=org.worker_a1.id,
            beneficiary_id=None,
            direction=Direction.ARRIVAL,
            identification=Identification.UNKNOWN_NUMBER,
            caller="06 11 11 11 11",
        ),
    )
    event = session.get_one(CallEvent, result.event_id)
    visit = service.attach_call(
        session,
        event,
        beneficiary=org.ben_a2,
        worker=org.worker_a1,
        direction=Direction.ARRIVAL,
        author="manager.nord",
        add_phone=True,
    )
    session.commit()
    assert visit.arrival_event_id == event.id and visit.beneficiary_id == org.ben_a2.id
    assert event.beneficiary_id is None  # the raw fact is unchanged
    found = service.find_beneficiary_by_number(session, "0611111111", date(2026, 11, 23))
    assert found is not None and found.id == org.ben_a2.id
    with pytest.raises(LedgerError):
        service.attach_call(
            session,
            event,
            beneficiary=org.ben_a2,
            worker=org.worker_a1,
            direction=Direction.ARRIVAL,
            author="manager.nord",
        )


def test_visit_across_dst_has_its_true_duration(session: Session, org: SmallOrg) -> None:
    from ledger.timeutil import duration, paris_to_utc

    w, b = org.worker_a1.id, org.ben_a1.id
    start = paris_to_utc(datetime(2026, 3, 29, 1, 30))
    end = paris_to_utc(datetime(2026, 3, 29, 3, 30))
    service.record_call(
        session, record("d1", start, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
    )
    res = service.record_call(
        session, record("d2", end, worker_id=w, beneficiary_id=b, direction=Direction.DEPARTURE)
    )
    session.commit()
    session.expire_all()
    visit = session.get_one(Visit, res.visit_id)
    assert visit.started_at is not None and visit.ended_at is not None
    assert duration(visit.started_at, visit.ended_at) == timedelta(hours=1)
