"""Closing a month in the tables: writes to a closed month refused, transitions audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import closures, service
from ledger.closing import ClosingError
from ledger.models import AuditEntry, CallEvent, FunderKind, Visit, VisitStatus
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.service import LedgerError, MonthClosed
from ledger.timeutil import Month
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_service import record

OCTOBER = Month(2026, 10)
VISIT_AT = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
#: After October's cut-off (5 November 23:59 Paris).
REVIEW = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)


def _visit(session: Session, org: SmallOrg, tag: str, at: datetime = VISIT_AT) -> Visit:
    w, b = org.worker_a1.id, org.ben_a1.id
    service.record_call(
        session, record(f"{tag}-in", at, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
    )
    done = service.record_call(
        session,
        record(
            f"{tag}-out",
            at + timedelta(hours=1),
            worker_id=w,
            beneficiary_id=b,
            direction=Direction.DEPARTURE,
        ),
    )
    assert done.visit_id is not None
    return session.get_one(Visit, done.visit_id)


def _validate_all(session: Session, actor: str = "referent") -> None:
    for key in closures.figures(session, OCTOBER, None).digests:
        closures.validate_funder(session, OCTOBER, key, actor=actor, now=REVIEW, rules=None)


def _close(session: Session) -> None:
    _validate_all(session)
    closures.close_month(session, OCTOBER, actor="referent", now=REVIEW, rules=None)
    session.commit()


@pytest.fixture
def closed_october(session: Session, org: SmallOrg) -> Visit:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    factories.care_plan(session, org.ben_a1, apa)
    visit = _visit(session, org, "v1")
    session.commit()
    _close(session)
    return visit


def test_a_closed_month_refuses_corrections_and_deletions(
    session: Session, closed_october: Visit
) -> None:
    for delete in (False, True):
        with pytest.raises(MonthClosed) as refused:
            service.correct_visit(
                session,
                closed_october,
                started_at=VISIT_AT,
                ended_at=VISIT_AT + timedelta(minutes=30),
                motive=Motive.TIME_ERROR,
                comment="",
                author="resp-a",
                delete=delete,
            )
        assert "octobre 2026 est clôturé" in str(refused.value)
        assert "référent central" in str(refused.value)
        assert isinstance(refused.value, LedgerError)  # the extranet shows it like any refusal
        session.rollback()
    assert session.get_one(Visit, closed_october.id).version == 2


def test_a_correction_cannot_move_a_visit_into_a_closed_month(
    session: Session, org: SmallOrg, closed_october: Visit
) -> None:
    november = _visit(session, org, "v2", datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    session.commit()
    with pytest.raises(MonthClosed):
        service.correct_visit(
            session,
            november,
            started_at=VISIT_AT + timedelta(days=1),
            ended_at=VISIT_AT + timedelta(days=1, hours=1),
            motive=Motive.TIME_ERROR,
            comment="",
            author="resp-a",
        )


def test_a_closed_month_refuses_manual_entries_and_attachments(
    session: Session, org: SmallOrg, closed_october: Visit
) -> None:
    with pytest.raises(MonthClosed):
        service.enter_manual_visit(
            session,
            worker=org.worker_a2,
            beneficiary=org.ben_a1,
            started_at=VISIT_AT + timedelta(days=2),
            ended_at=VISIT_AT + timedelta(days=2, hours=1),
            motive=Motive.PHONE_OUT_OF_ORDER,
            comment="",
            author="resp-a",
        )
    session.rollback()
    unknown = service.record_call(
        session,
        record(
            "unknown",
            VISIT_AT + timedelta(days=3),
            worker_id=org.worker_a2.id,
            beneficiary_id=None,
            direction=Direction.ARRIVAL,
        ),
    )
    session.commit()
    event = session.get_one(CallEvent, unknown.event_id)
    with pytest.raises(MonthClosed):
        service.attach_call(
            session,
            event,
            beneficiary=org.ben_a1,
            worker=org.worker_a2,
            direction=Direction.ARRIVAL,
            author="resp-a",
        )


def test_a_late_call_is_kept_but_held_out_of_the_closed_month(
    session: Session, org: SmallOrg, closed_october: Visit
) -> None:
    """A spooled call replayed after the close: the fact is stored, no visit changes."""
    late = service.record_call(
        session,
        record(
            "late",
            VISIT_AT + timedelta(days=5),
            worker_id=org.worker_a2.id,
            beneficiary_id=org.ben_a2.id,
            direction=Direction.ARRIVAL,
        ),
    )
    session.commit()
    assert late.visit_id is None and not late.already_recorded
    assert session.get(CallEvent, late.event_id) is not None
    held = session.scalars(select(AuditEntry).where(AuditEntry.action == "call.held")).one()
    assert held.object_id == str(late.event_id) and held.details["month"] == "2026-10"
    # November is not closed: its calls pair as ever.
    assert _visit(session, org, "nov", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)).status is (
        VisitStatus.COMPLETE
    )


def test_close_needs_the_cutoff_and_fresh_validations(session: Session, org: SmallOrg) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    factories.care_plan(session, org.ben_a1, apa)
    visit = _visit(session, org, "v1")
    session.commit()
    with pytest.raises(ClosingError, match="après la date limite"):
        closures.validate_funder(
            session, OCTOBER, "APA75", actor="ref", now=REVIEW - timedelta(days=1), rules=None
        )
    with pytest.raises(ClosingError, match="rien à valider"):
        closures.validate_funder(session, OCTOBER, "PCH75", actor="ref", now=REVIEW, rules=None)
    _validate_all(session)
    session.commit()
    # A correction in review changes APA75's figures: its validation no longer holds.
    service.correct_visit(
        session,
        visit,
        started_at=VISIT_AT,
        ended_at=VISIT_AT + timedelta(minutes=45),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    session.commit()
    with pytest.raises(ClosingError, match="à valider pour APA75"):
        closures.close_month(session, OCTOBER, actor="ref", now=REVIEW, rules=None)
    session.rollback()
    _close(session)
    assert closures.life_of(session, OCTOBER).closed


def test_reopen_with_motive_then_close_again_is_revision_two(
    session: Session, org: SmallOrg, closed_october: Visit
) -> None:
    with pytest.raises(ClosingError, match="motif"):
        closures.reopen_month(session, OCTOBER, actor="referent", now=REVIEW, motive=" ")
    session.rollback()
    closures.reopen_month(
        session, OCTOBER, actor="referent", now=REVIEW, motive="Visite du 14 oubliée"
    )
    session.commit()
    assert closures.closed_revision(session, OCTOBER) is None
    # Reopened: a correction goes through again, and the old validations are gone.
    service.correct_visit(
        session,
        closed_october,
        started_at=VISIT_AT,
        ended_at=VISIT_AT + timedelta(minutes=90),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    session.commit()
    assert closures.validations(session, OCTOBER) == {}
    _close(session)
    assert closures.closed_revision(session, OCTOBER) == 2
    journal = session.scalars(
        select(AuditEntry).where(AuditEntry.action.like("month.%")).order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.details["revision"]) for e in journal] == [
        ("month.validated", 1),
        ("month.closed", 1),
        ("month.reopened", 1),
        ("month.validated", 2),
        ("month.closed", 2),
    ]
    reopened = journal[2]
    assert reopened.actor == "referent" and reopened.details["motive"] == "Visite du 14 oubliée"
    assert journal[4].details["minutes"] == {"APA75": 90}
