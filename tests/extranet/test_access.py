"""Who gets what: every URL of the extranet for every role, and CSRF on every form."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.extranet.conftest import Scenario, csrf_token, login

ROLES = ("anonymous", "resp-a", "referent", "admin")

#: name -> (URL builder, expected status for anonymous, manager of A, referent, admin).
GET_MATRIX: dict[str, tuple[Callable[[Scenario], str], tuple[int, int, int, int]]] = {
    "health": (lambda s: "/sante", (200, 200, 200, 200)),
    "login": (lambda s: "/connexion", (200, 302, 302, 302)),
    "home": (lambda s: "/", (302, 302, 302, 302)),
    "today": (lambda s: "/interventions/aujourdhui", (302, 200, 200, 200)),
    "today_by_beneficiary": (
        lambda s: "/interventions/aujourdhui?vue=beneficiaires",
        (302, 200, 200, 200),
    ),
    "today_fragment": (lambda s: "/interventions/aujourdhui?fragment=1", (302, 200, 200, 200)),
    "visit_a": (lambda s: f"/interventions/{s.a.incomplete_visit.id}", (302, 200, 200, 200)),
    "visit_b": (lambda s: f"/interventions/{s.b.incomplete_visit.id}", (302, 404, 200, 200)),
    "manual": (lambda s: "/interventions/saisie", (302, 200, 403, 200)),
    "export": (lambda s: "/interventions/export.csv", (405, 405, 405, 405)),
    "incomplete": (lambda s: "/appels/incomplets", (302, 200, 200, 200)),
    "attach_a": (lambda s: f"/appels/{s.a.unknown_call.id}/rattacher", (302, 200, 403, 200)),
    "attach_b": (lambda s: f"/appels/{s.b.unknown_call.id}/rattacher", (302, 404, 403, 200)),
    "planning": (lambda s: "/planning", (302, 200, 200, 200)),
    "planning_fragment": (lambda s: "/planning?fragment=1", (302, 200, 200, 200)),
    "alerts": (lambda s: "/alertes", (302, 200, 200, 200)),
    "beneficiaries": (lambda s: "/beneficiaires", (302, 200, 200, 200)),
    "beneficiary_a": (lambda s: f"/beneficiaires/{s.a.beneficiary.id}", (302, 200, 200, 200)),
    "beneficiary_b": (lambda s: f"/beneficiaires/{s.b.beneficiary.id}", (302, 404, 200, 200)),
    "workers": (lambda s: "/intervenants", (302, 200, 200, 200)),
    "worker_a": (lambda s: f"/intervenants/{s.a.worker.id}", (302, 200, 200, 200)),
    "worker_b": (lambda s: f"/intervenants/{s.b.worker.id}", (302, 404, 200, 200)),
    "stats": (lambda s: "/statistiques", (302, 200, 200, 200)),
    "stats_beneficiaries": (
        lambda s: "/statistiques/beneficiaires?mois=2026-11",
        (302, 200, 200, 200),
    ),
    "stats_beneficiaries_bad_month": (
        lambda s: "/statistiques/beneficiaires?mois=2026-13",
        (302, 400, 400, 400),
    ),
    "stats_unknown_state": (lambda s: "/statistiques/inconnu", (404, 404, 404, 404)),
    "stats_unknown_format": (lambda s: "/statistiques/profil.docx", (404, 404, 404, 404)),
    "stats_planning_b": (
        lambda s: f"/statistiques/planning-beneficiaire?beneficiaire={s.b.beneficiary.id}",
        (302, 404, 200, 200),
    ),
    "stats_worker_planning_b": (
        lambda s: f"/statistiques/planning-intervenant?intervenant={s.b.worker.id}",
        (302, 404, 200, 200),
    ),
    "stats_export_planning_b": (
        lambda s: f"/statistiques/planning-intervenant.csv?intervenant={s.b.worker.id}",
        (302, 404, 200, 200),
    ),
    "stats_bad_week": (
        lambda s: "/statistiques/profil?periode=semaine&semaine=2026-W54",
        (302, 400, 400, 400),
    ),
    "stats_bad_dates": (
        lambda s: "/statistiques/profil?periode=dates&du=2026-11-30&au=2026-11-01",
        (302, 400, 400, 400),
    ),
    "stats_bad_id": (lambda s: "/statistiques/intervenants?intervenant=abc", (302, 400, 400, 400)),
    "stats_bad_funder": (lambda s: "/statistiques/financeurs?financeur=NOPE", (302, 400, 400, 400)),
    "stats_bad_option": (lambda s: "/statistiques/absences?nature=x", (302, 400, 400, 400)),
    "stats_period_not_allowed": (
        lambda s: "/statistiques/activite-annuelle?periode=mois",
        (302, 400, 400, 400),
    ),
    "runs": (lambda s: "/echanges", (302, 403, 200, 200)),
    "service_status": (lambda s: "/administration/etat", (302, 403, 403, 200)),
    "run_file": (lambda s: f"/echanges/{s.run_id}/fichiers/0", (302, 403, 200, 200)),
    "run_file_outside": (lambda s: f"/echanges/{s.bad_run_id}/fichiers/0", (302, 403, 404, 404)),
    "audit": (lambda s: "/journal", (302, 200, 200, 200)),
    "statements": (lambda s: "/etats-mensuels", (302, 200, 200, 200)),
    "statement_a": (lambda s: f"/etats-mensuels/{s.a.statement_id}.pdf", (302, 200, 200, 200)),
    "statement_b": (lambda s: f"/etats-mensuels/{s.b.statement_id}.pdf", (302, 404, 200, 200)),
    "users": (lambda s: "/administration/utilisateurs", (302, 403, 403, 200)),
    "own_password": (lambda s: "/mon-compte/mot-de-passe", (302, 200, 200, 200)),
    "user_new": (lambda s: "/administration/utilisateurs/nouveau", (302, 403, 403, 200)),
    "user_edit": (
        lambda s: f"/administration/utilisateurs/{s.users['resp-b']}",
        (302, 403, 403, 200),
    ),
    "user_missing": (lambda s: "/administration/utilisateurs/999999", (302, 403, 403, 404)),
    "funders": (lambda s: "/administration/financeurs", (302, 403, 403, 200)),
    "api_tokens": (lambda s: "/administration/jetons-api", (302, 403, 403, 200)),
    "api_token_new": (lambda s: "/administration/jetons-api/nouveau", (302, 403, 403, 200)),
    # The REST API: its document is public; a session cookie is no credential
    # (tests/extranet/api covers the tokens).
    "api_document": (lambda s: "/api/v1/openapi.json", (200, 200, 200, 200)),
    "api_visits": (lambda s: "/api/v1/visits", (401, 401, 401, 401)),
    "api_visit_a": (lambda s: f"/api/v1/visits/{s.a.incomplete_visit.id}", (401, 401, 401, 401)),
    "api_beneficiaries": (lambda s: "/api/v1/beneficiaries", (401, 401, 401, 401)),
    "api_beneficiary_a": (
        lambda s: f"/api/v1/beneficiaries/{s.a.beneficiary.id}",
        (401, 401, 401, 401),
    ),
    "api_workers": (lambda s: "/api/v1/workers", (401, 401, 401, 401)),
    "api_worker_a": (lambda s: f"/api/v1/workers/{s.a.worker.id}", (401, 401, 401, 401)),
    "api_calls": (lambda s: "/api/v1/call-events", (401, 401, 401, 401)),
    "api_call_a": (lambda s: f"/api/v1/call-events/{s.a.unknown_call.id}", (401, 401, 401, 401)),
    "api_statistics": (lambda s: "/api/v1/statistics", (401, 401, 401, 401)),
    "api_unknown": (lambda s: "/api/v1/inconnu", (404, 404, 404, 404)),
    "funder": (lambda s: f"/administration/financeurs/{s.a.funder_id}", (302, 403, 403, 200)),
    "funder_other": (
        lambda s: f"/administration/financeurs/{s.other_funder_id}",
        (302, 403, 403, 404),
    ),
    "funder_missing": (lambda s: "/administration/financeurs/999999", (302, 403, 403, 404)),
    "invoices": (lambda s: "/factures-departement", (302, 200, 200, 200)),
    "invoices_bad_month": (lambda s: "/factures-departement?mois=2026-13", (302, 200, 200, 200)),
    "invoice_a": (lambda s: f"/factures-departement/{s.a.invoice_id}.pdf", (302, 200, 200, 200)),
    "invoice_b": (lambda s: f"/factures-departement/{s.b.invoice_id}.pdf", (302, 404, 200, 200)),
    "invoice_unassigned": (
        lambda s: f"/factures-departement/{s.unassigned_invoice_id}.pdf",
        (302, 404, 200, 200),
    ),
    "closing": (lambda s: "/cloture", (302, 302, 302, 302)),
    "closing_month": (lambda s: "/cloture/2026-11", (302, 200, 200, 200)),
    "closing_month_previous": (lambda s: "/cloture/2026-10", (302, 200, 200, 200)),
    "closing_month_antenna_b": (
        lambda s: f"/cloture/2026-11?antenne={s.b.antenna.id}",
        (302, 200, 200, 200),
    ),
    "closing_month_malformed": (lambda s: "/cloture/2026-13", (302, 404, 404, 404)),
    "closing_month_text": (lambda s: "/cloture/novembre", (302, 404, 404, 404)),
    "closing_month_future": (lambda s: "/cloture/2026-12", (302, 404, 404, 404)),
    "closing_funder_a": (
        lambda s: f"/cloture/2026-11/financeurs/{s.a.funder_code}",
        (302, 200, 200, 200),
    ),
    "closing_funder_a_by_worker": (
        lambda s: f"/cloture/2026-11/financeurs/{s.a.funder_code}?vue=intervenants",
        (302, 200, 200, 200),
    ),
    # A malformed parameter is refused (extranet.params), never a 500.
    "closing_funder_bad_page": (
        lambda s: f"/cloture/2026-11/financeurs/{s.a.funder_code}?vue=intervenants&page=x",
        (302, 400, 400, 400),
    ),
    "closing_funder_b": (
        lambda s: f"/cloture/2026-11/financeurs/{s.b.funder_code}",
        (302, 404, 200, 200),
    ),
    "closing_funder_unknown": (
        lambda s: "/cloture/2026-11/financeurs/INCONNU",
        (302, 404, 404, 404),
    ),
    "closing_visits_a": (
        lambda s: (
            f"/cloture/2026-11/financeurs/{s.a.funder_code}/interventions"
            f"?beneficiaire={s.a.beneficiary.id}"
        ),
        (302, 200, 200, 200),
    ),
    "closing_visits_a_worker": (
        lambda s: (
            f"/cloture/2026-11/financeurs/{s.a.funder_code}/interventions"
            f"?intervenant={s.a.worker.id}"
        ),
        (302, 200, 200, 200),
    ),
    "closing_visits_b": (
        lambda s: (
            f"/cloture/2026-11/financeurs/{s.b.funder_code}/interventions"
            f"?beneficiaire={s.b.beneficiary.id}"
        ),
        (302, 404, 200, 200),
    ),
    "closing_visits_nobody": (
        lambda s: f"/cloture/2026-11/financeurs/{s.a.funder_code}/interventions",
        (302, 404, 404, 404),
    ),
}

#: POST endpoints with an empty but CSRF-valid form: the gate answers before the data does.
POST_MATRIX: dict[str, tuple[Callable[[Scenario], str], tuple[int, int, int, int]]] = {
    "correct_a": (
        lambda s: f"/interventions/{s.a.incomplete_visit.id}/corriger",
        (302, 422, 403, 422),
    ),
    "correct_b": (
        lambda s: f"/interventions/{s.b.incomplete_visit.id}/corriger",
        (302, 404, 403, 422),
    ),
    "manual": (lambda s: "/interventions/saisie", (302, 422, 403, 422)),
    "attach_a": (lambda s: f"/appels/{s.a.unknown_call.id}/rattacher", (302, 422, 403, 422)),
    "attach_b": (lambda s: f"/appels/{s.b.unknown_call.id}/rattacher", (302, 404, 403, 422)),
    "acknowledge": (lambda s: "/alertes/prise-en-compte", (302, 400, 403, 400)),
    "logout": (lambda s: "/deconnexion", (302, 302, 302, 302)),
    "export": (lambda s: "/interventions/export.csv", (302, 400, 400, 400)),
    "own_password": (lambda s: "/mon-compte/mot-de-passe", (302, 422, 422, 422)),
    "user_new": (lambda s: "/administration/utilisateurs/nouveau", (302, 403, 403, 422)),
    "user_edit": (
        lambda s: f"/administration/utilisateurs/{s.users['resp-b']}",
        (302, 403, 403, 422),
    ),
    "user_deactivate": (
        lambda s: f"/administration/utilisateurs/{s.users['resp-b']}/desactiver",
        (302, 403, 403, 302),
    ),
    "user_reactivate": (
        lambda s: f"/administration/utilisateurs/{s.users['resp-b']}/reactiver",
        (302, 403, 403, 302),
    ),
    "user_reset": (
        lambda s: f"/administration/utilisateurs/{s.users['resp-b']}/mot-de-passe",
        (302, 403, 403, 200),
    ),
    "unlock": (lambda s: "/administration/connexions/debloquer", (302, 403, 403, 400)),
    "api_token_new": (lambda s: "/administration/jetons-api/nouveau", (302, 403, 403, 422)),
    "api_token_revoke_missing": (
        lambda s: "/administration/jetons-api/999999/revoquer",
        (302, 403, 403, 404),
    ),
    # No CSRF exemption reaches the API without a token.
    "api_manual": (lambda s: "/api/v1/visits", (401, 401, 401, 401)),
    "api_correct_a": (
        lambda s: f"/api/v1/visits/{s.a.incomplete_visit.id}/corrections",
        (401, 401, 401, 401),
    ),
    # Every field is optional: an empty form is valid and changes nothing.
    "funder": (
        lambda s: f"/administration/financeurs/{s.a.funder_id}",
        (302, 403, 403, 302),
    ),
    "language_a": (lambda s: f"/intervenants/{s.a.worker.id}/langue", (302, 422, 403, 422)),
    "language_b": (lambda s: f"/intervenants/{s.b.worker.id}/langue", (302, 404, 403, 422)),
    # November is still open (its cut-off is 5 December): the referent is refused with a message.
    "closing_validate": (
        lambda s: f"/cloture/2026-11/financeurs/{s.a.funder_code}/valider",
        (302, 403, 422, 403),
    ),
    "closing_close": (lambda s: "/cloture/2026-11/cloturer", (302, 403, 422, 403)),
    "closing_reopen": (lambda s: "/cloture/2026-11/rouvrir", (302, 403, 422, 403)),
    "closing_close_malformed": (lambda s: "/cloture/xx/cloturer", (302, 403, 404, 403)),
}

#: Endpoints the matrices cover (every URL rule of the app must be in one).
COVERED = {
    "static",
    "health",
    "auth.login",
    "auth.logout",
    "account.password",
    "visits.home",
    "visits.today",
    "visits.detail",
    "visits.correct",
    "visits.manual",
    "visits.export",
    "calls.incomplete",
    "calls.attach",
    "planning.index",
    "alerts.index",
    "alerts.acknowledge",
    "people.beneficiaries",
    "people.beneficiary",
    "people.workers",
    "people.worker",
    "people.worker_language",
    "stats.index",
    "stats.state",
    "stats.export",
    "runs.index",
    "runs.download",
    "audit.index",
    "statements.index",
    "statements.download",
    "admin.users",
    "admin.create",
    "admin.edit",
    "admin.deactivate",
    "admin.reactivate",
    "admin.reset_password",
    "admin.unlock",
    "admin.funders",
    "admin.funder",
    "admin.api_tokens",
    "admin.api_token_create",
    "admin.api_token_revoke",
    "api-docs.openapi_json",
    "api.visits",
    "api.visit",
    "api.correct",
    "api.manual",
    "api.beneficiaries",
    "api.beneficiary",
    "api.workers",
    "api.worker",
    "api.call_events",
    "api.call_event",
    "api.statistics",
    "status.index",
    "invoices.index",
    "invoices.download",
    "closing.index",
    "closing.month",
    "closing.funder",
    "closing.visits",
    "closing.validate",
    "closing.close",
    "closing.reopen",
}


def _state_urls() -> dict[str, tuple[Callable[[Scenario], str], tuple[int, int, int, int]]]:
    """Every statistics state and its three exports, for every role."""
    from extranet.stats.states import STATES

    found: dict[str, tuple[Callable[[Scenario], str], tuple[int, int, int, int]]] = {}
    for slug in STATES:
        query = "?mois=2026-11" if slug != "activite-annuelle" else "?annee=2026"
        for suffix in ("", ".csv", ".xlsx", ".pdf"):
            found[f"state_{slug}{suffix}"] = (
                lambda s, url=f"/statistiques/{slug}{suffix}{query}": url,
                (302, 200, 200, 200),
            )
    return found


GET_MATRIX.update(_state_urls())


def test_every_url_rule_is_in_the_matrix(app: Flask) -> None:
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == COVERED


def _as(client: FlaskClient, role: str) -> None:
    if role != "anonymous":
        assert login(client, role) == 302


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(GET_MATRIX))
def test_get_matrix(client: FlaskClient, scenario: Scenario, name: str, role: str) -> None:
    url, expected = GET_MATRIX[name]
    _as(client, role)
    response = client.get(url(scenario))
    assert response.status_code == expected[ROLES.index(role)], response.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(POST_MATRIX))
def test_post_matrix(client: FlaskClient, scenario: Scenario, name: str, role: str) -> None:
    url, expected = POST_MATRIX[name]
    _as(client, role)
    token = csrf_token(client, "/connexion" if role == "anonymous" else "/beneficiaires")
    response = client.post(url(scenario), data={"csrf_token": token})
    assert response.status_code == expected[ROLES.index(role)], response.get_data(as_text=True)
