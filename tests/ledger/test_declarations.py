"""What is declared to a funder and what changed since: one share per funder, stable ids, diff."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.declarations import (
    ESPPADOM,
    ChangeKind,
    Declared,
    HoldReason,
    changes_since_last_send,
    declarable,
    diff,
    document_id,
    load_declared,
    record,
)
from ledger.funders import FunderIdentity
from ledger.models import Declaration, FunderKind, Visit
from ledger.money import allocate_month, funder_shares
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.service import correct_visit, record_call
from ledger.timeutil import Month, paris_to_utc
from tests import factories
from tests.billing_export.builders import plan, visit
from tests.factories import SmallOrg
from tests.ledger.test_money import month_data
from tests.ledger.test_service import record as call_record

OCTOBER = Month(2026, 10)
IDENTITIES = {
    "APA75": FunderIdentity("APA75", "APA", "APA", platform_id="CD75-APA"),
    "PCH75": FunderIdentity("PCH75", "PCH", "PCH", platform_id="CD75-PCH"),
    "CNAV": FunderIdentity("CNAV", "CNAV", "CAISSE"),
    "MUT": FunderIdentity("MUT", "Mutuelle", "MUTUELLE"),
}


@settings(max_examples=300, deadline=None)
@given(month_data())
def test_one_share_per_funder_tiles_the_visit(data: tuple[list, list, dict]) -> None:  # type: ignore[type-arg]
    visits, plans, rules = data
    for vb in allocate_month(2026, 10, visits, plans, rules).visits:
        shares = funder_shares(vb)
        expected: dict[str, int] = defaultdict(int)
        for share in vb.shares:
            if share.plan is not None:
                expected[share.plan.funder_code] += share.minutes
        assert {s.funder_code: s.minutes for s in shares} == dict(expected)
        assert len({s.funder_code for s in shares}) == len(shares)
        cursor = vb.kept.start
        for share in shares:  # consecutive slices from the kept start, never overlapping
            assert share.kept.start == cursor and share.minutes > 0
            assert share.plan.funder_code == share.funder_code
            cursor = share.kept.end
        assert cursor <= vb.kept.end


@settings(max_examples=200, deadline=None)
@given(month_data())
def test_once_declared_nothing_changes_and_ids_stay(data: tuple[list, list, dict]) -> None:  # type: ignore[type-arg]
    visits, plans, rules = data
    lines, held = declarable(allocate_month(2026, 10, visits, plans, rules), IDENTITIES)
    assert all(line.funder_code in ("APA75", "PCH75") for line in lines)
    assert len({line.key for line in lines}) == len(lines)  # one per visit and funder
    first = diff({}, lines, [h.line.key for h in held])
    assert {c.kind for c in first} <= {ChangeKind.NEW}
    store = {
        c.line.key: Declared(c.document_id, c.line, c.line.digest, False, 1, "f") for c in first
    }
    assert diff(store, lines, [h.line.key for h in held]) == []
    again = diff(store, lines, [h.line.key for h in held], include_unchanged=True)
    assert [c.document_id for c in again] == [c.document_id for c in first]
    # Every line gone from the month is declared deleted under its id, and only those.
    gone = diff(store, [], [])
    assert {(c.kind, c.document_id) for c in gone} == {
        (ChangeKind.DELETED, c.document_id) for c in first
    }
    assert {c.adjustment for c in gone} <= {"SUP"}


def test_held_back_lines_are_not_deleted_and_wait() -> None:
    plans = [plan(ben=1, plan_id=1), plan(ben=2, plan_id=2, reference="")]
    visits = [
        visit(datetime(2026, 10, 1, 9), 60, ben=1, visit_id=10),
        visit(datetime(2026, 10, 1, 9), 60, ben=2, visit_id=11),
    ]
    billing = allocate_month(2026, 10, visits, plans)
    lines, held = declarable(billing, IDENTITIES)
    assert [(h.line.visit_id, h.reason) for h in held] == [(11, HoldReason.NO_PLAN_REFERENCE)]
    first = diff({}, lines, [h.line.key for h in held])
    store = {
        c.line.key: Declared(c.document_id, c.line, c.line.digest, False, 1, "f") for c in first
    }
    # The funder then loses its identifier: its lines are held back, never deleted.
    lost = {**IDENTITIES, "APA75": replace(IDENTITIES["APA75"], platform_id="")}
    lines, held = declarable(billing, lost)
    assert lines == [] and {h.reason for h in held} == {HoldReason.FUNDER_IDENTITY}
    assert diff(store, lines, [h.line.key for h in held]) == []


def test_document_ids() -> None:
    assert document_id(4711, "APA75", OCTOBER) == "V4711-APA75-202610"


def _call(session: Session, org: SmallOrg, at: datetime, direction: Direction, tag: str) -> int:
    recorded = record_call(
        session,
        call_record(
            tag,
            at,
            worker_id=org.worker_a1.id,
            beneficiary_id=org.ben_a1.id,
            direction=direction,
        ),
    )
    assert recorded.visit_id is not None
    return recorded.visit_id


def test_stored_declarations_round_trip_and_follow_the_ledger(
    session: Session, org: SmallOrg
) -> None:
    apa = factories.funder(session, FunderKind.APA)
    apa.platform_id = "CD75-APA"
    factories.care_plan(session, org.ben_a1, apa)
    start = paris_to_utc(datetime(2026, 10, 5, 9))
    _call(session, org, start, Direction.ARRIVAL, "decl-1")
    visit_id = _call(session, org, start + timedelta(hours=1), Direction.DEPARTURE, "decl-2")
    session.commit()

    pending = changes_since_last_send(session, OCTOBER)
    assert [(c.kind, c.document_id, c.adjustment) for c in pending.changes] == [
        (ChangeKind.NEW, f"V{visit_id}-{apa.code}-202610", "")
    ]
    record(session, ESPPADOM, pending.changes, "f1.xml", datetime(2026, 11, 2, tzinfo=UTC))
    session.commit()
    stored = load_declared(session, ESPPADOM, OCTOBER)
    assert stored[(visit_id, apa.code)].line == pending.changes[0].line
    assert changes_since_last_send(session, OCTOBER).changes == ()

    # The manager moves the departure: the same id, corrected (COD).
    visit_row = session.get_one(Visit, visit_id)
    correct_visit(
        session,
        visit_row,
        started_at=visit_row.started_at,
        ended_at=start + timedelta(minutes=75),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="manager",
    )
    session.commit()
    (change,) = changes_since_last_send(session, OCTOBER).changes
    assert (change.kind, change.document_id, change.adjustment, change.line.minutes) == (
        ChangeKind.CHANGED,
        f"V{visit_id}-{apa.code}-202610",
        "COD",
        75,
    )
    record(session, ESPPADOM, [change], "f2.xml")
    # Then deletes it: the same id again, as SUP, with what it replaces.
    correct_visit(
        session,
        visit_row,
        started_at=None,
        ended_at=None,
        motive=Motive.DUPLICATE_CALL,
        comment="",
        author="manager",
        delete=True,
    )
    session.commit()
    (gone,) = changes_since_last_send(session, OCTOBER).changes
    assert (gone.kind, gone.adjustment, gone.line.minutes) == (ChangeKind.DELETED, "SUP", 75)
    record(session, ESPPADOM, [gone], "f3.xml")
    session.commit()
    row = session.scalars(select(Declaration)).one()
    assert (row.deleted, row.revision, row.adjustment, row.file_name) == (True, 3, "SUP", "f3.xml")
    assert row.month == date(2026, 10, 1)
    assert changes_since_last_send(session, OCTOBER).changes == ()
