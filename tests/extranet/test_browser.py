"""The manager's main journey in Debian's Chromium, against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.extranet.conftest import PASSWORD, Scenario
from tests.extranet.live import ARGS, CHROMIUM, chromium, serve

__all__ = ["ARGS", "CHROMIUM"]  # imported by other browser tests

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "extranet"


@pytest.fixture
def server(app: Flask, scenario: Scenario) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def page(server: str) -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(
            base_url=server, locale="fr-FR", viewport={"width": 1024, "height": 768}
        )
        tab = context.new_page()
        yield tab
        context.close()


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_manager_corrects_an_incomplete_call_and_its_alert_goes(
    page: object, scenario: Scenario
) -> None:
    expect = playwright_api.expect
    p = page  # typed loosely: playwright's Page
    visit_id = scenario.a.incomplete_visit.id
    alert_link = f'a[href="/interventions/{visit_id}"]'

    p.goto("/connexion")  # type: ignore[attr-defined]
    p.keyboard.press("Tab")  # type: ignore[attr-defined]
    expect(p.locator(":focus")).to_have_text("Aller au contenu")  # type: ignore[attr-defined]
    p.get_by_label("Identifiant").fill("resp-a")  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").fill(PASSWORD)  # type: ignore[attr-defined]
    shot(p, "01-connexion")
    p.get_by_role("button", name="Se connecter").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", level=1)).to_contain_text("Interventions du")  # type: ignore[attr-defined]
    expect(p.get_by_text(scenario.a.beneficiary.last_name).first).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "02-interventions-du-jour")
    with p.expect_download() as download:  # type: ignore[attr-defined]
        p.get_by_role("button", name="Exporter (CSV)").click()  # type: ignore[attr-defined]
    assert download.value.suggested_filename == "interventions-2026-11-20-2026-11-20.csv"
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert scenario.a.beneficiary.last_name in exported

    p.get_by_role("link", name="Alertes").click()  # type: ignore[attr-defined]
    expect(p.locator(alert_link)).to_have_count(1)  # type: ignore[attr-defined]
    shot(p, "03-alertes-avant")

    p.get_by_role("link", name="Appels incomplets").click()  # type: ignore[attr-defined]
    expect(p.get_by_text("Départ sans arrivée").first).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "04-appels-incomplets")
    p.get_by_role("link", name=f"Corriger l'intervention {visit_id}").click()  # type: ignore[attr-defined]

    expect(p.get_by_role("heading", name="Corriger l'intervention")).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_label("Arrivée (heure de Paris)").fill("2026-11-20T13:00")  # type: ignore[attr-defined]
    p.get_by_label("Motif de la correction").select_option(label="Oubli de l'intervenant")  # type: ignore[attr-defined]
    p.get_by_label("Commentaire").fill("Arrivée non pointée, confirmée par la bénéficiaire")  # type: ignore[attr-defined]
    shot(p, "05-correction")
    p.get_by_role("button", name="Enregistrer la correction").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("status")).to_contain_text("Intervention corrigée")  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="Oubli de l'intervenant")).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "06-intervention-corrigee")

    p.get_by_role("link", name="Alertes").click()  # type: ignore[attr-defined]
    expect(p.locator(alert_link)).to_have_count(0)  # type: ignore[attr-defined]
    shot(p, "07-alertes-apres")


def test_pages_on_a_tablet(page: object, scenario: Scenario) -> None:
    expect = playwright_api.expect
    p = page
    p.set_viewport_size({"width": 768, "height": 1024})  # type: ignore[attr-defined]
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_label("Identifiant").fill("referent")  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").fill(PASSWORD)  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").press("Enter")  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", level=1)).to_contain_text("Interventions du")  # type: ignore[attr-defined]
    for name, path in (
        ("10-tablette-jour", "/interventions/aujourdhui?vue=beneficiaires"),
        ("11-tablette-beneficiaire", f"/beneficiaires/{scenario.a.beneficiary.id}"),
        ("12-tablette-planning", "/planning"),
        ("13-tablette-statistiques", "/statistiques"),
        ("14-tablette-echanges", "/echanges"),
        ("15-tablette-journal", "/journal"),
        ("16-tablette-factures", "/factures-departement"),
    ):
        p.goto(path)  # type: ignore[attr-defined]
        expect(p.locator("main h1")).to_be_visible()  # type: ignore[attr-defined]
        width = p.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        shot(p, name)
        assert width <= 768 + 1, f"{path} scrolls sideways on a tablet ({width}px)"


@pytest.fixture
def browser(server: str) -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        yield launched


def _tab(browser: object, server: str) -> object:
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=server, locale="fr-FR", viewport={"width": 1024, "height": 768}
    )
    return context.new_page()


def _log_in(p: object, login: str, password: str) -> None:
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_label("Identifiant").fill(login)  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").fill(password)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Se connecter").click()  # type: ignore[attr-defined]


def test_an_administrator_runs_the_whole_life_of_an_account(
    browser: object, server: str, scenario: Scenario
) -> None:
    expect = playwright_api.expect
    admin = _tab(browser, server)
    marie = _tab(browser, server)
    a = admin  # typed loosely: playwright's Page
    m = marie

    # Creation: a temporary password, shown once.
    _log_in(a, "admin", PASSWORD)
    a.get_by_role("link", name="Utilisateurs").click()  # type: ignore[attr-defined]
    a.get_by_role("link", name="Créer un compte").click()  # type: ignore[attr-defined]
    a.get_by_label("Identifiant").fill("marie.curie")  # type: ignore[attr-defined]
    a.get_by_label("Nom affiché").fill("Marie Curie")  # type: ignore[attr-defined]
    a.get_by_label("Rôle").select_option(label="Responsable d'antenne")  # type: ignore[attr-defined]
    a.get_by_label("Antenne").select_option(label=scenario.a.antenna.name)  # type: ignore[attr-defined]
    shot(a, "20-compte-creation")
    a.get_by_role("button", name="Créer le compte").click()  # type: ignore[attr-defined]
    expect(a.get_by_role("heading", level=1)).to_have_text("Compte marie.curie créé")  # type: ignore[attr-defined]
    temporary = a.locator("#mot-de-passe-provisoire").inner_text()  # type: ignore[attr-defined]
    shot(a, "21-compte-mot-de-passe-provisoire")

    # First login: the new password first, then the antenna's pages.
    _log_in(m, "marie.curie", temporary)
    expect(m.get_by_role("heading", level=1)).to_have_text("Changer de mot de passe")  # type: ignore[attr-defined]
    m.goto("/alertes")  # type: ignore[attr-defined]
    expect(m.get_by_role("heading", level=1)).to_have_text("Changer de mot de passe")  # type: ignore[attr-defined]
    m.get_by_label("Mot de passe actuel").fill(temporary)  # type: ignore[attr-defined]
    m.get_by_label("Nouveau mot de passe", exact=True).fill("motdepasse2026")  # type: ignore[attr-defined]
    m.get_by_label("Confirmez le nouveau mot de passe").fill("motdepasse2026")  # type: ignore[attr-defined]
    m.get_by_role("button", name="Changer le mot de passe").click()  # type: ignore[attr-defined]
    expect(m.locator("#new-err")).to_contain_text("trop courant")  # type: ignore[attr-defined]
    shot(m, "22-compte-mot-de-passe-refuse")
    m.get_by_label("Mot de passe actuel").fill(temporary)  # type: ignore[attr-defined]
    m.get_by_label("Nouveau mot de passe", exact=True).fill("le radium brille dans le noir")  # type: ignore[attr-defined]
    m.get_by_label("Confirmez le nouveau mot de passe").fill("le radium brille dans le noir")  # type: ignore[attr-defined]
    m.get_by_role("button", name="Changer le mot de passe").click()  # type: ignore[attr-defined]
    expect(m.get_by_role("status")).to_contain_text("Mot de passe changé")  # type: ignore[attr-defined]
    expect(m.get_by_text(f"({scenario.a.antenna.name})")).to_be_visible()  # type: ignore[attr-defined]
    shot(m, "23-compte-premiere-connexion")

    # Moved to another antenna: her open session ends at once.
    a.get_by_role("link", name="Utilisateurs").click()  # type: ignore[attr-defined]
    a.get_by_role("link", name="marie.curie").click()  # type: ignore[attr-defined]
    a.get_by_label("Antenne").select_option(label=scenario.b.antenna.name)  # type: ignore[attr-defined]
    a.get_by_role("button", name="Enregistrer les modifications").click()  # type: ignore[attr-defined]
    expect(a.get_by_role("status")).to_contain_text("sessions ouvertes sont fermées")  # type: ignore[attr-defined]
    shot(a, "24-compte-antenne-changee")
    m.goto("/alertes")  # type: ignore[attr-defined]
    expect(m.get_by_role("heading", level=1)).to_have_text("Connexion")  # type: ignore[attr-defined]
    _log_in(m, "marie.curie", "le radium brille dans le noir")
    expect(m.get_by_text(f"({scenario.b.antenna.name})")).to_be_visible()  # type: ignore[attr-defined]

    # Forgotten password: the administrator resets it.
    a.get_by_role("button", name="Réinitialiser le mot de passe").click()  # type: ignore[attr-defined]
    expect(a.get_by_role("heading", level=1)).to_contain_text("réinitialisé")  # type: ignore[attr-defined]
    second = a.locator("#mot-de-passe-provisoire").inner_text()  # type: ignore[attr-defined]
    assert second != temporary
    m.goto("/alertes")  # type: ignore[attr-defined]
    expect(m.get_by_role("heading", level=1)).to_have_text("Connexion")  # type: ignore[attr-defined]
    _log_in(m, "marie.curie", second)
    expect(m.get_by_role("heading", level=1)).to_have_text("Changer de mot de passe")  # type: ignore[attr-defined]

    # She leaves: deactivated, her session ends and she cannot log in.
    a.get_by_role("link", name="Voir le compte").click()  # type: ignore[attr-defined]
    a.get_by_role("button", name="Désactiver le compte").click()  # type: ignore[attr-defined]
    expect(a.get_by_role("status")).to_contain_text("Compte désactivé")  # type: ignore[attr-defined]
    shot(a, "25-compte-desactive")
    m.goto("/alertes")  # type: ignore[attr-defined]
    expect(m.get_by_role("heading", level=1)).to_have_text("Connexion")  # type: ignore[attr-defined]
    _log_in(m, "marie.curie", second)
    expect(m.get_by_role("alert")).to_contain_text("Identifiant ou mot de passe incorrect")  # type: ignore[attr-defined]

    # She comes back: reactivated, the same temporary password works again.
    a.get_by_role("button", name="Réactiver le compte").click()  # type: ignore[attr-defined]
    expect(a.get_by_role("status")).to_contain_text("Compte réactivé")  # type: ignore[attr-defined]
    _log_in(m, "marie.curie", second)
    expect(m.get_by_role("heading", level=1)).to_have_text("Changer de mot de passe")  # type: ignore[attr-defined]

    # Her whole life is in the journal.
    a.goto("/journal?auteur=admin")  # type: ignore[attr-defined]
    for action in (
        "user.created",
        "user.updated",
        "user.password_reset",
        "user.deactivated",
        "user.reactivated",
    ):
        expect(a.get_by_role("cell", name=action, exact=True).first).to_be_visible()  # type: ignore[attr-defined]
    shot(a, "26-journal-du-compte")


def test_admin_gives_a_funder_its_platform_identity(page: object, scenario: Scenario) -> None:
    expect = playwright_api.expect
    p = page
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_label("Identifiant").fill("admin")  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").fill(PASSWORD)  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").press("Enter")  # type: ignore[attr-defined]
    p.get_by_role("link", name="Financeurs").click()  # type: ignore[attr-defined]
    expect(p.get_by_text("Non télétransmis").first).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "20-financeurs-avant")
    p.locator(f'a[href="/administration/financeurs/{scenario.a.funder_id}"]').click()  # type: ignore[attr-defined]
    p.get_by_label("Identifiant attribué par la plateforme du Département").fill("CD75-APA")  # type: ignore[attr-defined]
    p.get_by_label("Code du Département").fill("20")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Enregistrer").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("alert")).to_contain_text("code de Département refusé")  # type: ignore[attr-defined]
    shot(p, "21-financeur-refuse")
    p.get_by_label("Code du Département").fill("75")  # type: ignore[attr-defined]
    p.get_by_label("Codes de prestation du financeur").fill("AIDE=AD01")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Enregistrer").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("status")).to_contain_text("enregistrée")  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="CD75-APA")).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="AIDE=AD01")).to_be_visible()  # type: ignore[attr-defined]
    shot(p, "22-financeurs-apres")


def test_manager_downloads_the_invoice_of_her_arrondissement(
    page: object, scenario: Scenario
) -> None:
    expect = playwright_api.expect
    p = page
    p.goto("/connexion")  # type: ignore[attr-defined]
    p.get_by_label("Identifiant").fill("resp-a")  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").fill(PASSWORD)  # type: ignore[attr-defined]
    p.get_by_label("Mot de passe").press("Enter")  # type: ignore[attr-defined]
    p.get_by_role("link", name="Factures du Département").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="75001", exact=True)).to_be_visible()  # type: ignore[attr-defined]
    expect(p.get_by_role("cell", name="75002", exact=True)).to_have_count(0)  # type: ignore[attr-defined]
    shot(p, "23-factures-antenne")
    with p.expect_download() as download:  # type: ignore[attr-defined]
        p.get_by_role("link", name="Télécharger le PDF").click()  # type: ignore[attr-defined]
    saved = download.value.path()
    assert Path(saved).read_bytes().startswith(b"%PDF-")
    assert download.value.suggested_filename == "FACTURE-APA-75001-202610.pdf"
