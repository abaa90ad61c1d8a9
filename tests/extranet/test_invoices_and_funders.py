"""The Département's invoices per antenna, and the funders' identity screen, over HTTP."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import AuditEntry, Funder
from tests.extranet.conftest import Scenario, csrf_token, login


def _downloads(client: FlaskClient) -> str:
    return client.get("/factures-departement").get_data(as_text=True)


def test_each_antenna_sees_the_invoices_of_its_arrondissements(
    client: FlaskClient, scenario: Scenario
) -> None:
    a, b = scenario.a, scenario.b
    assert login(client, "resp-a") == 302
    page = _downloads(client)
    assert f"/factures-departement/{a.invoice_id}.pdf" in page
    assert f"/factures-departement/{b.invoice_id}.pdf" not in page
    assert f"/factures-departement/{scenario.unassigned_invoice_id}.pdf" not in page
    response = client.get(f"/factures-departement/{a.invoice_id}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert response.mimetype == "application/pdf"
    assert "FACTURE-APA-75001-202610.pdf" in response.headers["Content-Disposition"]


def test_referents_see_every_invoice_and_filter_by_antenna(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    a, b = scenario.a, scenario.b
    assert login(client, "referent") == 302
    page = _downloads(client)
    for invoice_id in (a.invoice_id, b.invoice_id, scenario.unassigned_invoice_id):
        assert f"/factures-departement/{invoice_id}.pdf" in page
    only_b = client.get(f"/factures-departement?antenne={b.antenna.id}&mois=2026-10")
    text = only_b.get_data(as_text=True)
    assert f"/factures-departement/{b.invoice_id}.pdf" in text
    assert f"/factures-departement/{a.invoice_id}.pdf" not in text
    assert client.get(f"/factures-departement/{b.invoice_id}.pdf").status_code == 200
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "invoice.downloaded")
    ).one()
    assert entry.actor == "referent" and entry.details["area"] == "75002"


def test_the_funder_screen_checks_then_stores(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    assert login(client, "admin") == 302
    url = f"/administration/financeurs/{scenario.a.funder_id}"
    token = csrf_token(client, url)
    refused = client.post(
        url,
        data={"csrf_token": token, "platform_id": "CD75-APA", "departement_code": "20"},
    )
    assert refused.status_code == 422
    assert "code de Département refusé" in refused.get_data(as_text=True)
    unknown = client.post(url, data={"csrf_token": token, "aid_type": "ASL_PA"})
    assert unknown.status_code == 422
    session.expire_all()
    assert session.get_one(Funder, scenario.a.funder_id).platform_id == ""

    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "platform_id": "CD75-APA",
            "departement_code": "75",
            "aid_type": "",
            "service_codes": "AIDE=AD01",
        },
    )
    assert saved.status_code == 302
    session.expire_all()
    funder = session.get_one(Funder, scenario.a.funder_id)
    assert (funder.platform_id, funder.departement_code, funder.service_codes) == (
        "CD75-APA",
        "75",
        {"AIDE": "AD01"},
    )
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "funder.identity_changed")
    ).one()
    assert entry.actor == "admin"
    listing = client.get("/administration/financeurs").get_data(as_text=True)
    assert "CD75-APA" in listing and "Complet" in listing
    # Without the CSRF token nothing is stored.
    assert client.post(url, data={"platform_id": "X"}).status_code == 400
