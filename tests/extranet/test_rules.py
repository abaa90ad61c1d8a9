"""Rules of the extranet through its HTTP interface: CSRF, throttling, corrections, alerts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.models import AlertAck, LoginThrottle, ThrottleScope, User
from ledger.models import AuditEntry, Phone, Visit, VisitStatus, Worker
from ledger.timeutil import as_utc, paris_to_utc
from tests import factories
from tests.extranet.conftest import NOW, PASSWORD, Scenario, csrf_token, login


@pytest.fixture
def manager_a(client: FlaskClient, scenario: Scenario) -> FlaskClient:
    assert login(client, "resp-a") == 302
    return client


def _visit(session: Session, visit_id: int) -> Visit:
    session.expire_all()
    return session.get_one(Visit, visit_id)


# --- CSRF ---------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(client: FlaskClient, scenario: Scenario) -> None:
    response = client.post("/connexion", data={"login": "resp-a", "password": PASSWORD})
    assert response.status_code == 400
    assert "formulaire a expiré" in response.get_data(as_text=True)
    assert client.get("/interventions/aujourdhui").status_code == 302  # not logged in


def test_correction_without_csrf_token_is_refused(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    visit_id = scenario.a.incomplete_visit.id
    for token in (None, "forged-token"):
        data = {
            "started_at": "2026-11-20T13:00",
            "ended_at": "2026-11-20T14:00",
            "motive": "worker_forgot",
        }
        if token:
            data["csrf_token"] = token
        response = manager_a.post(f"/interventions/{visit_id}/corriger", data=data)
        assert response.status_code == 400
    assert _visit(session, visit_id).version == 1


# --- login throttling ---------------------------------------------------------------


def test_ten_wrong_passwords_lock_the_account(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    for attempt in range(1, 10):
        assert login(client, "resp-a", "wrong password " + str(attempt)) == 401
    tenth = client.post(
        "/connexion",
        data={"login": "resp-a", "password": "wrong 10", "csrf_token": csrf_token(client)},
    )
    assert "Trop de tentatives" in tenth.get_data(as_text=True)
    page = client.post(
        "/connexion",
        data={"login": "resp-a", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert page.status_code == 401
    assert "Trop de tentatives" in page.get_data(as_text=True)
    assert client.get("/interventions/aujourdhui").status_code == 302
    row = _throttle(session, ThrottleScope.LOGIN, "resp-a")
    assert row.failures == 10
    assert row.locked_until is not None and as_utc(row.locked_until) > NOW
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.in_(["login.refused", "login.locked"]))
    ).all()
    assert sorted(actions) == ["login.locked"] + ["login.refused"] * 10


def _throttle(session: Session, scope: ThrottleScope, key: str) -> LoginThrottle:
    session.expire_all()
    return session.scalars(
        select(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
    ).one()


def test_a_success_before_the_limit_resets_the_counter(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    for _ in range(9):
        assert login(client, "resp-a", "wrong password") == 401
    assert login(client, "resp-a") == 302
    session.expire_all()
    assert session.scalars(select(LoginThrottle).where(LoginThrottle.key == "resp-a")).all() == []


def test_unknown_login_and_wrong_password_get_the_same_answer(
    client: FlaskClient, scenario: Scenario
) -> None:
    token = csrf_token(client)
    unknown = client.post(
        "/connexion", data={"login": "nobody", "password": "x" * 12, "csrf_token": token}
    )
    wrong = client.post(
        "/connexion", data={"login": "resp-a", "password": "x" * 12, "csrf_token": token}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in unknown.get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect" in wrong.get_data(as_text=True)


def test_login_does_not_redirect_off_site(client: FlaskClient, scenario: Scenario) -> None:
    token = csrf_token(client)
    response = client.post(
        "/connexion?suivant=//evil.example/",
        data={"login": "resp-a", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/interventions/aujourdhui"


def test_password_change_ends_open_sessions(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert manager_a.get("/alertes").status_code == 200
    user = session.scalars(select(User).where(User.login == "resp-a")).one()
    user.session_epoch += 1
    session.commit()
    assert manager_a.get("/alertes").status_code == 302


# --- corrections --------------------------------------------------------------------


def test_a_correction_without_motive_is_refused(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    visit_id = scenario.a.incomplete_visit.id
    token = csrf_token(manager_a, f"/interventions/{visit_id}")
    response = manager_a.post(
        f"/interventions/{visit_id}/corriger",
        data={
            "csrf_token": token,
            "started_at": "2026-11-20T13:00",
            "ended_at": "2026-11-20T14:00",
            "motive": "",
        },
    )
    assert response.status_code == 422
    assert "Le motif est obligatoire" in response.get_data(as_text=True)
    visit = _visit(session, visit_id)
    assert visit.version == 1 and visit.status is VisitStatus.INCOMPLETE


def test_other_motive_needs_a_comment(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    visit_id = scenario.a.incomplete_visit.id
    token = csrf_token(manager_a, f"/interventions/{visit_id}")
    response = manager_a.post(
        f"/interventions/{visit_id}/corriger",
        data={
            "csrf_token": token,
            "started_at": "2026-11-20T13:00",
            "ended_at": "2026-11-20T14:00",
            "motive": "other",
        },
    )
    assert response.status_code == 422
    assert "Précisez le motif en commentaire" in response.get_data(as_text=True)
    assert _visit(session, visit_id).version == 1


def test_correcting_an_incomplete_visit_resolves_its_alert(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    visit_id = scenario.a.incomplete_visit.id
    link = f'href="/interventions/{visit_id}"'
    assert link in manager_a.get("/alertes").get_data(as_text=True)
    assert link in manager_a.get("/appels/incomplets").get_data(as_text=True)
    token = csrf_token(manager_a, f"/interventions/{visit_id}")
    response = manager_a.post(
        f"/interventions/{visit_id}/corriger",
        data={
            "csrf_token": token,
            "started_at": "2026-11-20T13:00",
            "ended_at": "2026-11-20T14:00",
            "motive": "worker_forgot",
            "comment": "Oubli du pointage d'arrivée",
        },
    )
    assert response.status_code == 302
    visit = _visit(session, visit_id)
    assert visit.status is VisitStatus.CORRECTED and visit.version == 2
    # Entered in Paris time (UTC+1 in November), stored in UTC.
    assert as_utc(visit.started_at) == paris_to_utc(NOW.replace(tzinfo=None, hour=13))  # type: ignore[arg-type]
    assert as_utc(visit.started_at).hour == 12  # type: ignore[arg-type]
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "visit.version", AuditEntry.object_id == str(visit_id)
        )
    ).one()
    assert entry.actor == "resp-a" and entry.details["motive"] == "worker_forgot"
    assert link not in manager_a.get("/alertes").get_data(as_text=True)
    assert link not in manager_a.get("/appels/incomplets").get_data(as_text=True)
    detail = manager_a.get(f"/interventions/{visit_id}").get_data(as_text=True)
    assert "Oubli de l&#39;intervenant" in detail  # the motive's label in the history
    assert "Serveur vocal" in detail  # version 1, by the IVR, stays visible


def test_manual_entry(manager_a: FlaskClient, scenario: Scenario, session: Session) -> None:
    a = scenario.a
    token = csrf_token(manager_a, "/interventions/saisie")
    response = manager_a.post(
        "/interventions/saisie",
        data={
            "csrf_token": token,
            "beneficiary_id": a.beneficiary.id,
            "worker_id": a.worker.id,
            "started_at": "2026-11-19T09:00",
            "ended_at": "2026-11-19T10:30",
            "motive": "phone_out_of_order",
        },
    )
    assert response.status_code == 302
    visit_id = int(response.headers["Location"].rsplit("/", 1)[1])
    visit = _visit(session, visit_id)
    assert visit.status is VisitStatus.MANUAL
    assert as_utc(visit.ended_at) - as_utc(visit.started_at) == timedelta(minutes=90)  # type: ignore[arg-type]


def test_attach_an_unknown_call_and_add_the_number(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    a = scenario.a
    event = a.unknown_call
    assert f"/appels/{event.id}/rattacher" in manager_a.get("/appels/incomplets").get_data(
        as_text=True
    )
    token = csrf_token(manager_a, f"/appels/{event.id}/rattacher")
    response = manager_a.post(
        f"/appels/{event.id}/rattacher",
        data={
            "csrf_token": token,
            "beneficiary_id": a.beneficiary.id,
            "worker_id": a.worker.id,
            "direction": "arrival",
            "add_phone": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    numbers = session.scalars(
        select(Phone.e164).where(Phone.beneficiary_id == a.beneficiary.id)
    ).all()
    assert event.caller_e164 in numbers
    assert f"/appels/{event.id}/rattacher" not in manager_a.get("/appels/incomplets").get_data(
        as_text=True
    )


def test_acknowledging_a_new_beneficiary_clears_its_alert(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    new = scenario.a.new_beneficiary
    link = f'href="/beneficiaires/{new.id}"'
    alerts = manager_a.get("/alertes").get_data(as_text=True)
    assert link in alerts
    token = csrf_token(manager_a, f"/beneficiaires/{new.id}")
    response = manager_a.post(
        "/alertes/prise-en-compte",
        data={"csrf_token": token, "kind": "new_with_departement", "object_id": new.id},
    )
    assert response.status_code == 302
    assert link not in manager_a.get("/alertes").get_data(as_text=True)
    ack = session.scalars(select(AlertAck)).one()
    assert ack.acked_by == "resp-a"


def test_a_beneficiarys_page_shows_its_alert_past_the_antennas_list(
    manager_a: FlaskClient, scenario: Scenario, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page asks for this beneficiary's alerts, not for the antenna's first ``LIMIT``."""
    from extranet.alerts import queries
    from ledger.models import CarePlan

    new = scenario.a.new_beneficiary
    plan = session.scalars(select(CarePlan).where(CarePlan.beneficiary_id == new.id)).one()
    earlier = factories.beneficiary(session, scenario.a.antenna)
    earlier.care_start = new.care_start - timedelta(days=1)
    factories.care_plan(session, earlier, plan.funder, starts_on=earlier.care_start)
    session.commit()
    monkeypatch.setattr(queries, "LIMIT", 1)
    # The antenna's list holds the earlier one only...
    alerts = manager_a.get("/alertes").get_data(as_text=True)
    assert f'href="/beneficiaires/{earlier.id}"' in alerts
    assert f'href="/beneficiaires/{new.id}"' not in alerts
    # ...and each one's page still shows its own alert, to acknowledge there.
    page = manager_a.get(f"/beneficiaires/{new.id}").get_data(as_text=True)
    assert queries.AlertKind.NEW_WITH_DEPARTEMENT.label in page
    assert f'name="object_id" value="{new.id}"' in page


def test_plan_ending_alert_goes_when_the_plan_is_renewed(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    from ledger.models import CarePlan

    plan = session.get_one(CarePlan, scenario.a.plan_id)
    link = f'href="/beneficiaires/{plan.beneficiary_id}"'
    section = manager_a.get("/alertes").get_data(as_text=True).split("Plans d&#39;aide")[1]
    assert link in section
    assert plan.ends_on is not None
    session.add(
        CarePlan(
            beneficiary_id=plan.beneficiary_id,
            funder_id=plan.funder_id,
            service_code=plan.service_code,
            max_hours=plan.max_hours,
            starts_on=plan.ends_on + timedelta(days=1),
        )
    )
    session.commit()
    section = manager_a.get("/alertes").get_data(as_text=True).split("Plans d&#39;aide")[1]
    assert link not in section


# --- files, headers, cookies -------------------------------------------------------------


def test_run_files_are_served_only_from_the_data_dir(
    client: FlaskClient, scenario: Scenario, data_dir: Path
) -> None:
    assert login(client, "referent") == 302
    good = client.get(f"/echanges/{scenario.run_id}/fichiers/0")
    assert good.status_code == 200 and b"code inconnu" in good.data
    assert client.get(f"/echanges/{scenario.bad_run_id}/fichiers/0").status_code == 404
    assert client.get(f"/echanges/{scenario.run_id}/fichiers/1").status_code == 404
    assert (data_dir.parent / "outside.txt").exists()


def test_security_headers_and_cookie_flags(client: FlaskClient, scenario: Scenario) -> None:
    page = client.get("/connexion")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    token = csrf_token(client)
    response = client.post(
        "/connexion", data={"login": "resp-a", "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_live_fragment_is_only_the_table(manager_a: FlaskClient, scenario: Scenario) -> None:
    fragment = manager_a.get("/interventions/aujourdhui?fragment=1").get_data(as_text=True)
    assert "<html" not in fragment
    assert scenario.a.beneficiary.last_name in fragment
    page = manager_a.get("/interventions/aujourdhui").get_data(as_text=True)
    assert 'data-live-url="/interventions/aujourdhui?' in page


# --- statistics -------------------------------------------------------------------------


def test_statistics_figures(client: FlaskClient, scenario: Scenario) -> None:
    assert login(client, "referent") == 302
    page = client.get("/statistiques?mois=3").get_data(as_text=True)
    by_antenna, by_funder, rates = page.split("<caption>")[1:4]
    assert "septembre 2026" in by_antenna and "août 2026" not in by_antenna
    for antenna in (scenario.a.antenna, scenario.b.antenna):
        # One complete hour each; the incomplete visit counts no hours.
        row = by_antenna.split(antenna.name)[1].split("</tr>")[0]
        assert row.count("1 h 00") == 1
        # One of the two visits of each antenna was not called in at both ends.
        assert "50,0 %" in rates.split(antenna.name)[1].split("</tr>")[0]
    assert "2 h 00" in by_funder.split("Financeur APA")[1].split("</tr>")[0]


# --- moving a visit -----------------------------------------------------------------


def test_a_correction_moves_a_visit_and_both_workers_pages_show_it(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    visit = scenario.a.complete_visit
    old_worker = scenario.a.worker
    colleague = scenario.a.incomplete_visit.worker_id  # another worker of antenna A
    path = f"/interventions/{visit.id}"
    form = manager_a.get(path).get_data(as_text=True)
    assert 'name="worker_id"' in form and 'name="beneficiary_id"' in form
    response = manager_a.post(
        f"{path}/corriger",
        data={
            "csrf_token": csrf_token(manager_a, path),
            "started_at": "2026-11-20T12:00",
            "ended_at": "2026-11-20T13:00",
            "worker_id": str(colleague),
            "beneficiary_id": str(visit.beneficiary_id),
            "motive": "wrong_code",
            "comment": "code de sa collègue",
        },
    )
    assert response.status_code == 302
    moved = _visit(session, visit.id)
    assert moved.worker_id == colleague and moved.version == 3
    assert moved.versions[-1].moved_from_worker_id == old_worker.id
    detail = manager_a.get(path).get_data(as_text=True)
    assert "Déplacée de l&#39;intervenant" in detail or "Déplacée de l'intervenant" in detail
    for worker_id in (old_worker.id, colleague):
        page = manager_a.get(f"/intervenants/{worker_id}").get_data(as_text=True)
        assert f"/interventions/{visit.id}" in page, worker_id
    old_page = manager_a.get(f"/intervenants/{old_worker.id}").get_data(as_text=True)
    assert "Interventions déplacées vers un autre intervenant" in old_page


def test_a_visit_cannot_be_moved_to_a_worker_of_another_antenna(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    visit = scenario.a.complete_visit
    path = f"/interventions/{visit.id}"
    response = manager_a.post(
        f"{path}/corriger",
        data={
            "csrf_token": csrf_token(manager_a, path),
            "started_at": "2026-11-20T12:00",
            "ended_at": "2026-11-20T13:00",
            "worker_id": str(scenario.b.worker.id),
            "motive": "wrong_code",
        },
    )
    assert response.status_code == 422
    assert _visit(session, visit.id).worker_id == scenario.a.worker.id


def test_a_manager_sets_a_workers_language(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    path = f"/intervenants/{scenario.a.worker.id}"
    response = manager_a.post(
        f"{path}/langue", data={"csrf_token": csrf_token(manager_a, path), "language": "pt"}
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get_one(Worker, scenario.a.worker.id).language == "pt"
    bad = manager_a.post(
        f"{path}/langue", data={"csrf_token": csrf_token(manager_a, path), "language": "xx"}
    )
    assert bad.status_code == 422
    assert session.get_one(Worker, scenario.a.worker.id).language == "pt"
