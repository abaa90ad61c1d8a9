"""Every extranet page passes axe-core in Debian's Chromium: no serious or critical violation.

axe-core is vendored from npm by scripts/vendor-npm (decision 0322) and added
to each page by Playwright's init script, which the page's content security
policy does not govern: the pages are checked with their real policy, and a
script or style that policy refuses (a chart's inline style, say) is reported
by the browser and fails the test too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.extranet.conftest import PASSWORD, Scenario
from tests.extranet.test_access import GET_MATRIX, ROLES
from tests.extranet.test_browser import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

AXE = (
    Path(__file__).resolve().parents[2]
    / "scripts"
    / "npm"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
#: WCAG 2.1 A and AA, which the RGAA follows.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: Not pages: files, fragments, health, redirects, the REST API (JSON; its document is public).
NOT_PAGES = (".csv", ".xlsx", ".pdf", "fragment=1", "/sante", "/fichiers/", "/api/")


def _pages(scenario: Scenario, role: str) -> list[str]:
    found = []
    for _name, (url, expected) in sorted(GET_MATRIX.items()):
        path = url(scenario)
        if expected[ROLES.index(role)] == 200 and not any(n in path for n in NOT_PAGES):
            found.append(path)
    a = scenario.a
    found += [
        f"/statistiques/planning-beneficiaire?beneficiaire={a.beneficiary.id}&mois=2026-11",
        f"/statistiques/planning-intervenant?intervenant={a.worker.id}&periode=semaine&semaine=2026-W47",
        "/statistiques/appels-incomplets?periode=annee&annee=2026",
        "/statistiques/inconnu",  # the error page
    ]
    return sorted(set(found))


@pytest.fixture
def browser_context(server: str) -> Iterator[object]:  # noqa: F811
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.txt)")
    if not AXE.exists():
        pytest.fail("axe-core is not vendored: run scripts/vendor-npm (scripts/bootstrap does)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(
            base_url=server, locale="fr-FR", viewport={"width": 1280, "height": 900}
        )
        context.add_init_script(path=str(AXE))
        yield context
        context.close()
        browser.close()


def _audit(page: object, path: str) -> list[str]:
    """Serious and critical violations on the page at ``path``, as readable lines."""
    result = page.evaluate(  # type: ignore[attr-defined]
        "tags => axe.run(document, "
        "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        TAGS,
    )
    found = []
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [" ".join(node["target"]) for node in violation["nodes"][:3]]
            found.append(f"{path}: {violation['id']} ({violation['impact']}) {targets}")
    return found


@pytest.mark.parametrize("role", ["resp-a", "referent"])
def test_every_page_passes_axe(
    browser_context: object, scenario: Scenario, client: FlaskClient, role: str
) -> None:
    page = browser_context.new_page()  # type: ignore[attr-defined]
    refused: list[str] = []
    page.on(
        "console",
        lambda m: (
            refused.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    problems: list[str] = []
    page.goto("/connexion")
    problems += _audit(page, "/connexion")
    page.get_by_label("Identifiant").fill(role)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/interventions/aujourdhui")
    pages = _pages(scenario, role)
    assert len(pages) > 30
    for path in pages:
        page.goto(path)
        page.locator("main h1").wait_for()
        problems += _audit(page, path)
    page.goto("/statistiques/activite-annuelle?annee=2026")
    page.screenshot(path=str(ARTIFACTS / f"20-statistiques-{role}.png"), full_page=True)
    assert problems == []
    assert refused == []
