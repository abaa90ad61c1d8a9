"""A manager of antenna A asks for antenna B's objects every way there is, and gets nothing."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.models import AuditEntry, Phone, Visit, VisitVersion
from tests.extranet.conftest import Scenario, csrf_token, login


@pytest.fixture
def manager_a(client: FlaskClient, scenario: Scenario) -> FlaskClient:
    assert login(client, "resp-a") == 302
    return client


def _b_names(s: Scenario) -> list[str]:
    return [
        s.b.beneficiary.last_name,
        s.b.new_beneficiary.last_name,
        s.b.worker.last_name,
    ]


def _b_links(s: Scenario) -> list[str]:
    b = s.b
    return [
        f'/beneficiaires/{b.beneficiary.id}"',
        f'/beneficiaires/{b.new_beneficiary.id}"',
        f'/intervenants/{b.worker.id}"',
        f'/interventions/{b.complete_visit.id}"',
        f'/interventions/{b.incomplete_visit.id}"',
        f"/appels/{b.unknown_call.id}/",
        f"/etats-mensuels/{b.statement_id}.pdf",
        f"/factures-departement/{b.invoice_id}.pdf",
        f"/factures-departement/{s.unassigned_invoice_id}.pdf",
    ]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def test_b_objects_by_id_are_not_found(manager_a: FlaskClient, scenario: Scenario) -> None:
    b = scenario.b
    for url in (
        f"/interventions/{b.complete_visit.id}",
        f"/interventions/{b.incomplete_visit.id}",
        f"/appels/{b.unknown_call.id}/rattacher",
        f"/beneficiaires/{b.beneficiary.id}",
        f"/beneficiaires/{b.new_beneficiary.id}",
        f"/intervenants/{b.worker.id}",
        f"/etats-mensuels/{b.statement_id}.pdf",
        f"/factures-departement/{b.invoice_id}.pdf",
        f"/factures-departement/{scenario.unassigned_invoice_id}.pdf",
        f"/cloture/2026-11/financeurs/{b.funder_code}",
        f"/cloture/2026-11/financeurs/{b.funder_code}/interventions?beneficiaire={b.beneficiary.id}",
        f"/cloture/2026-11/financeurs/{scenario.a.funder_code}/interventions"
        f"?beneficiaire={b.beneficiary.id}",
        f"/cloture/2026-11/financeurs/{scenario.a.funder_code}/interventions"
        f"?intervenant={b.worker.id}",
    ):
        response = manager_a.get(url)
        assert response.status_code == 404, url
        for name in _b_names(scenario):
            assert not _mentions(response.get_data(as_text=True), name)


@pytest.mark.parametrize(
    "path",
    [
        "/interventions/aujourdhui?antenne={b}",
        "/interventions/aujourdhui?antenne={b}&vue=beneficiaires",
        "/interventions/aujourdhui?antenne={b}&fragment=1",
        "/appels/incomplets?antenne={b}&depuis=2026-01-01",
        "/planning?antenne={b}",
        "/alertes?antenne={b}",
        "/beneficiaires?antenne={b}",
        "/intervenants?antenne={b}",
        "/journal?antenne={b}",
        "/etats-mensuels?antenne={b}",
        "/etats-mensuels?beneficiaire={ben_b}",
        "/factures-departement",
        "/factures-departement?antenne={b}",
        "/factures-departement?mois=2026-10&antenne={b}",
        "/beneficiaires?q={ben_b_name}",
        "/intervenants?q={worker_b_name}",
        "/cloture/2026-11",
        "/cloture/2026-11?antenne={b}",
        "/cloture/2026-11/financeurs/{funder_a}?antenne={b}",
        "/cloture/2026-11/financeurs/{funder_a}?antenne={b}&vue=intervenants",
    ],
)
def test_b_objects_by_list_filter_are_absent(
    manager_a: FlaskClient, scenario: Scenario, path: str
) -> None:
    b = scenario.b
    url = path.format(
        b=b.antenna.id,
        ben_b=b.beneficiary.id,
        ben_b_name=b.beneficiary.last_name,
        worker_b_name=b.worker.last_name,
        funder_a=scenario.a.funder_code,
    )
    response = manager_a.get(url)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for link in _b_links(scenario):
        assert link not in text, url
    if "q=" not in url:  # a search box shows what was searched
        for name in _b_names(scenario):
            assert not _mentions(text, name), url


def test_the_same_lists_do_show_a_to_its_manager(
    manager_a: FlaskClient, scenario: Scenario
) -> None:
    """The filters above are not empty for an antenna the manager does see."""
    a = scenario.a
    for url, needle in (
        (f"/interventions/aujourdhui?antenne={a.antenna.id}", a.beneficiary.last_name),
        (f"/appels/incomplets?antenne={a.antenna.id}", f"/interventions/{a.incomplete_visit.id}"),
        (f"/planning?antenne={a.antenna.id}", a.beneficiary.last_name),
        (f"/alertes?antenne={a.antenna.id}", a.new_beneficiary.last_name),
        (f"/etats-mensuels?antenne={a.antenna.id}", f"/etats-mensuels/{a.statement_id}.pdf"),
        (f"/journal?antenne={a.antenna.id}", "call.recorded"),
        ("/factures-departement", f"/factures-departement/{a.invoice_id}.pdf"),
        ("/cloture/2026-11", f"/interventions/{a.incomplete_visit.id}"),
        (f"/cloture/2026-11/financeurs/{a.funder_code}", a.beneficiary.last_name),
        (
            f"/cloture/2026-11/financeurs/{a.funder_code}/interventions"
            f"?beneficiaire={a.beneficiary.id}",
            f"/interventions/{a.complete_visit.id}",
        ),
    ):
        assert needle in manager_a.get(url).get_data(as_text=True), url


def test_b_visits_are_not_exported(manager_a: FlaskClient, scenario: Scenario) -> None:
    token = csrf_token(manager_a, "/beneficiaires")
    period = {"csrf_token": token, "first": "2026-11-01", "last": "2026-11-30"}
    for extra in ({}, {"antenna": str(scenario.b.antenna.id)}):
        response = manager_a.post("/interventions/export.csv", data={**period, **extra})
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        for name in _b_names(scenario):
            assert not _mentions(text, name)
    own = manager_a.post("/interventions/export.csv", data=period)
    assert scenario.a.beneficiary.last_name in own.get_data(as_text=True)


def test_b_objects_cannot_be_changed(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    b = scenario.b
    versions_before = session.scalar(select(func.count()).select_from(VisitVersion))
    token = csrf_token(manager_a, "/beneficiaires")
    correction = manager_a.post(
        f"/interventions/{b.incomplete_visit.id}/corriger",
        data={
            "csrf_token": token,
            "started_at": "2026-11-20T13:00",
            "ended_at": "2026-11-20T14:00",
            "motive": "worker_forgot",
        },
    )
    assert correction.status_code == 404
    attach = manager_a.post(
        f"/appels/{b.unknown_call.id}/rattacher",
        data={
            "csrf_token": token,
            "beneficiary_id": b.beneficiary.id,
            "worker_id": b.worker.id,
            "direction": "arrival",
            "add_phone": "y",
        },
    )
    assert attach.status_code == 404
    ack = manager_a.post(
        "/alertes/prise-en-compte",
        data={"csrf_token": token, "kind": "plan_ending", "object_id": b.plan_id},
    )
    assert ack.status_code == 404
    manual = manager_a.post(
        "/interventions/saisie",
        data={
            "csrf_token": token,
            "beneficiary_id": b.beneficiary.id,
            "worker_id": b.worker.id,
            "started_at": "2026-11-19T09:00",
            "ended_at": "2026-11-19T10:00",
            "motive": "phone_out_of_order",
        },
    )
    assert manual.status_code == 422  # B's beneficiary is not among the choices
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(VisitVersion)) == versions_before
    assert (
        session.scalar(
            select(func.count()).select_from(Visit).where(Visit.beneficiary_id == b.beneficiary.id)
        )
        == 1
    )
    assert (
        session.scalar(
            select(func.count()).select_from(Phone).where(Phone.beneficiary_id == b.beneficiary.id)
        )
        == 1
    )
    assert not session.scalars(
        select(AuditEntry).where(
            AuditEntry.actor == "resp-a", AuditEntry.antenna_id == b.antenna.id
        )
    ).all()


# --- statistics: every state and every export ---------------------------------------------


def _state_query(slug: str) -> str:
    return "annee=2026" if slug == "activite-annuelle" else "mois=2026-11"


def _export_text(response_data: bytes, fmt: str, tmp_path: object) -> str:
    """What a reader of the file sees: every cell of every sheet, every word of the PDF."""
    import io
    import subprocess
    from pathlib import Path

    if fmt in ("", ".csv"):
        return response_data.decode("utf-8-sig")
    if fmt == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response_data))
        return "\n".join(
            " ".join("" if v is None else str(v) for v in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    path = Path(str(tmp_path)) / "etat.pdf"
    path.write_bytes(response_data)
    return subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def _b_needles(s: Scenario) -> list[str]:
    return [*_b_links(s), s.b.antenna.name]


def _state_urls() -> list[str]:
    from extranet.stats.states import STATES

    return sorted(STATES)


@pytest.mark.parametrize("fmt", ["", ".csv", ".xlsx", ".pdf"])
@pytest.mark.parametrize("slug", _state_urls())
def test_b_is_absent_from_every_state_and_export(
    manager_a: FlaskClient, scenario: Scenario, slug: str, fmt: str, tmp_path: object
) -> None:
    b = scenario.b
    for narrowing in ("", f"&antenne={b.antenna.id}"):
        url = f"/statistiques/{slug}{fmt}?{_state_query(slug)}{narrowing}"
        response = manager_a.get(url)
        assert response.status_code == 200, url
        text = _export_text(response.get_data(), fmt, tmp_path)
        for name in _b_names(scenario):
            assert not _mentions(text, name), (url, name)
        if fmt == "":
            for needle in _b_needles(scenario):
                assert needle not in text, (url, needle)
        else:
            assert b.antenna.name not in text, url
    # Nor through B's people as filters: not found, as on their own pages.
    for person in (f"beneficiaire={b.beneficiary.id}", f"intervenant={b.worker.id}"):
        response = manager_a.get(f"/statistiques/{slug}{fmt}?{_state_query(slug)}&{person}")
        assert response.status_code == 404, (slug, person)


#: States where antenna B's scenario objects show when asked for (the check above can fail).
SHOWING_B = (
    "beneficiaires",
    "plans-d-aide",
    "appels-incomplets",
    "financeurs",
    "non-identifies",
    "taux-de-correction",
    "intervenants",
    "activite-mensuelle",
    "activite-annuelle",
    "interventions",
)


@pytest.mark.parametrize("slug", SHOWING_B)
def test_the_same_states_do_show_b_to_a_referent(
    client: FlaskClient, scenario: Scenario, slug: str
) -> None:
    assert login(client, "referent") == 302
    url = f"/statistiques/{slug}?{_state_query(slug)}&antenne={scenario.b.antenna.id}"
    text = client.get(url).get_data(as_text=True)
    assert any(needle in text for needle in _b_needles(scenario)) or any(
        _mentions(text, name) for name in _b_names(scenario)
    ), url
    own = client.get(f"/statistiques/{slug}?{_state_query(slug)}&antenne={scenario.a.antenna.id}")
    assert not any(n in own.get_data(as_text=True) for n in _b_links(scenario)), url


def test_a_profile_of_b_counts_nobody_for_a_manager_of_a(
    client: FlaskClient, scenario: Scenario
) -> None:
    url = f"/statistiques/profil?mois=2026-11&antenne={scenario.b.antenna.id}"
    assert login(client, "referent") == 302
    assert "Aucune donnée" not in client.get(url).get_data(as_text=True).split("profil-sexe")[1]
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/beneficiaires")})
    assert login(client, "resp-a") == 302
    section = client.get(url).get_data(as_text=True).split('id="profil-sexe"')[1]
    assert "Aucune donnée pour ces filtres." in section.split("</table>")[0]
