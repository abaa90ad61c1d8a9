"""Absences: on the beneficiary's page, no late visit while absent, an alert when definitive."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from extranet.alerts.queries import definitive_absences
from extranet.models import User
from extranet.planning.queries import late_or_missed
from ledger.models import Absence, AbsenceKind
from tests.extranet.conftest import NOW, TODAY, Scenario, csrf_token, login


def _referent(session: Session) -> User:
    return session.query(User).filter_by(login="referent").one()


def test_an_absent_beneficiarys_planned_visit_is_not_late(
    session: Session, scenario: Scenario, client: FlaskClient
) -> None:
    ben = scenario.a.beneficiary
    late = [r.beneficiary.id for r in late_or_missed(session, _referent(session), NOW)]
    assert ben.id in late  # planned an hour ago, nobody called in
    session.add(
        Absence(
            beneficiary_id=ben.id,
            kind=AbsenceKind.HOSPITAL,
            starts_on=TODAY - timedelta(days=2),
            ends_on=TODAY + timedelta(days=5),
        )
    )
    session.commit()
    late = [r.beneficiary.id for r in late_or_missed(session, _referent(session), NOW)]
    assert ben.id not in late
    assert login(client, "resp-a") == 302
    page = client.get(f"/beneficiaires/{ben.id}").get_data(as_text=True)
    absences = page[page.index('id="absences"') :]
    assert "Hospitalisation" in absences and "Oui" in absences.split("</table>")[0]


def test_a_definitive_absence_raises_an_alert_until_care_ends_or_checked(
    session: Session, scenario: Scenario, client: FlaskClient
) -> None:
    ben = scenario.a.beneficiary
    death = Absence(beneficiary_id=ben.id, kind=AbsenceKind.DEATH, starts_on=TODAY)
    session.add(death)
    session.commit()
    assert [a.id for a in definitive_absences(session, _referent(session), TODAY)] == [death.id]
    assert login(client, "resp-a") == 302
    alerts = client.get("/alertes").get_data(as_text=True)
    assert "Décès le 20/11/2026" in alerts.split('id="absences-definitives"')[1]
    token = csrf_token(client, f"/beneficiaires/{ben.id}")
    done = client.post(
        "/alertes/prise-en-compte",
        data={"csrf_token": token, "kind": "definitive_absence", "object_id": death.id},
    )
    assert done.status_code == 302
    assert definitive_absences(session, _referent(session), TODAY) == []
    # Another antenna's manager cannot acknowledge it.
    other = scenario.b.beneficiary
    theirs = Absence(beneficiary_id=other.id, kind=AbsenceKind.MOVED, starts_on=TODAY)
    session.add(theirs)
    session.commit()
    refused = client.post(
        "/alertes/prise-en-compte",
        data={"csrf_token": token, "kind": "definitive_absence", "object_id": theirs.id},
    )
    assert refused.status_code == 404
