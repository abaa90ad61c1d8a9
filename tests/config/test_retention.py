"""Retention of personal data: real rows at the edges of each period, through the job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config import retention
from config.retention import RetentionSettings
from extranet.models import Role, User
from kernel.jobs import RunStatus
from kernel.scheduler import run_job
from kernel.settings import SettingsError
from ledger import service
from ledger.models import CallEvent, MonthClosure, Phone
from ledger.pairing import Direction
from tests.factories import SmallOrg
from tests.ledger.test_service import record

#: The job's "now": 20 December 2026, 10:00 in Paris.
NOW = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
TODAY = date(2026, 12, 20)
SETTINGS = RetentionSettings()


def job() -> object:
    (found,) = retention.jobs()
    return found


def purge(session_factory: sessionmaker[Session], data_dir: Path) -> dict[str, int]:
    run = run_job(retention.jobs()[0], session_factory, data_dir, params={"now": NOW.isoformat()})
    assert run.status is RunStatus.SUCCESS, run.message
    return run.counts


def phone(session: Session, org: SmallOrg, e164: str, ended: date | None) -> Phone:
    row = Phone(
        beneficiary_id=org.ben_a1.id,
        e164=e164,
        kind="landline",
        active_from=date(2020, 1, 1),
        active_until=ended,
    )
    session.add(row)
    return row


def call_from(session: Session, org: SmallOrg, channel: str, number: str, at: datetime) -> None:
    service.record_call(
        session,
        record(
            channel,
            at,
            worker_id=org.worker_a1.id,
            beneficiary_id=org.ben_a1.id,
            direction=Direction.ARRIVAL,
            caller=number,
        ),
    )


def test_ended_phone_numbers_past_their_period_go_unless_a_dispute_is_open(
    session: Session, session_factory: sessionmaker[Session], org: SmallOrg, tmp_path: Path
) -> None:
    limit = TODAY - timedelta(days=SETTINGS.phone_ended_days)
    phone(session, org, "+33140000001", limit)  # on the edge: kept
    phone(session, org, "+33140000002", limit - timedelta(days=1))  # one day past: goes
    phone(session, org, "+33140000003", None)  # still in use
    phone(session, org, "+33140000004", limit - timedelta(days=1))  # a call in an open month
    phone(session, org, "+33140000005", limit - timedelta(days=1))  # a call in a closed month
    call_from(session, org, "open", "01 40 00 00 04", datetime(2025, 11, 10, 9, tzinfo=UTC))
    call_from(session, org, "closed", "01 40 00 00 05", datetime(2025, 10, 10, 9, tzinfo=UTC))
    session.add(MonthClosure(year=2025, month=10, closed=True))
    session.commit()
    counts = purge(session_factory, tmp_path)
    assert counts["telephones_supprimes"] == 2
    left = set(session.scalars(select(Phone.e164).where(Phone.e164.startswith("+3314000000"))))
    assert left == {"+33140000001", "+33140000003", "+33140000004"}
    # The raw calls themselves are untouched (append-only).
    assert session.scalar(select(func.count()).select_from(CallEvent)) == 2
    assert purge(session_factory, tmp_path)["telephones_supprimes"] == 0


def _user(
    session: Session, login: str, *, active: bool, last_login: datetime | None, created: datetime
) -> User:
    row = User(
        login=login,
        name=f"Nom {login}",
        role=Role.CENTRAL_REFERENT,
        password_hash="argon2-hash",
        external_subject=f"sub-{login}",
        active=active,
        last_login_at=last_login,
        created_at=created,
    )
    session.add(row)
    return row


def test_accounts_of_leavers_are_anonymised_after_their_period(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    limit = NOW - timedelta(days=SETTINGS.leaver_account_days)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    _user(session, "edge", active=False, last_login=limit, created=old)
    gone = _user(
        session, "gone", active=False, last_login=limit - timedelta(seconds=1), created=old
    )
    never = _user(session, "never", active=False, last_login=None, created=old)
    _user(session, "still", active=True, last_login=old, created=old)
    _user(session, "new", active=False, last_login=None, created=NOW - timedelta(days=10))
    session.commit()
    assert purge(session_factory, tmp_path)["comptes_anonymises"] == 2
    session.expire_all()
    for row in (gone, never):
        assert row.login == f"ancien-compte-{row.id}"
        assert (row.name, row.password_hash, row.external_subject) == (
            "Compte anonymisé",
            None,
            None,
        )
    logins = set(session.scalars(select(User.login)))
    assert {"edge", "still", "new"} <= logins and not {"gone", "never"} & logins
    assert purge(session_factory, tmp_path)["comptes_anonymises"] == 0


def test_flow_files_past_their_period_go_never_the_archive(
    session_factory: sessionmaker[Session], tmp_path: Path, engine: object
) -> None:
    limit = TODAY - timedelta(days=SETTINGS.flow_file_days)
    kept_day, gone_day = limit.isoformat(), (limit - timedelta(days=1)).isoformat()
    files = {
        f"flows/inbox/{kept_day}/intervenants.csv": True,
        f"flows/inbox/{gone_day}/intervenants.csv": False,
        f"flows/rejects/{gone_day}/rejets.csv": False,
        f"flows/outbox/{gone_day}/horodatages.csv": False,
        "flows/inbox/a-trier/lisez-moi.txt": True,  # not a day folder
        f"archive/files/{gone_day}/etat.pdf": True,  # the ten-year archive
    }
    for relative in files:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    assert purge(session_factory, tmp_path)["fichiers_flux_supprimes"] == 3
    assert {r: (tmp_path / r).exists() for r in files} == files


def test_append_only_rows_past_their_period_are_counted_not_touched(
    session: Session, session_factory: sessionmaker[Session], org: SmallOrg, tmp_path: Path
) -> None:
    edge = NOW - timedelta(days=SETTINGS.call_days)
    call_from(session, org, "edge", "01 45 67 89 01", edge + timedelta(seconds=1))
    call_from(session, org, "past", "01 45 67 89 01", edge - timedelta(seconds=5))
    session.commit()
    counts = purge(session_factory, tmp_path)
    assert counts["appels_a_anonymiser"] == 1
    assert session.scalar(select(func.count()).select_from(CallEvent)) == 2


def test_too_short_a_period_is_refused() -> None:
    with pytest.raises(SettingsError, match="retention.call_days"):
        RetentionSettings(call_days=0)
