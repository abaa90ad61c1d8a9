"""The status page and the banner of parts down, from the watchdog's states."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from kernel.alerts import CheckState
from tests.extranet.conftest import Scenario, login

SINCE = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)


@pytest.fixture
def states(session: Session, scenario: Scenario) -> None:
    session.add_all(
        [
            CheckState(
                name="asterisk",
                label="Asterisk et sa connexion ARI",
                ok=False,
                since=SINCE,
                checked_at=SINCE,
                detail="Asterisk ne répond pas (AMI : non, ARI : non)",
            ),
            CheckState(
                name="database", label="Base de données", ok=True, since=SINCE, checked_at=SINCE
            ),
        ]
    )
    session.commit()


def test_the_status_page_lists_each_check_its_state_and_since_when(
    client: FlaskClient, states: None
) -> None:
    assert login(client, "admin") == 302
    page = client.get("/administration/etat").get_data(as_text=True)
    assert "Asterisk et sa connexion ARI" in page and "Base de données" in page
    assert page.index("Asterisk et sa connexion ARI") < page.index("Base de données")  # down first
    assert "En panne" in page and "En service" in page
    assert "20/11/2026 14:05" in page  # shown in Paris time
    assert "AMI : non" in page


def test_the_status_page_says_when_nothing_watches(client: FlaskClient, scenario: Scenario) -> None:
    assert login(client, "admin") == 302
    page = client.get("/administration/etat").get_data(as_text=True)
    assert "la surveillance (« telegestion watchdog run ») ne tourne pas" in page
    assert "Incident en cours" not in page


@pytest.mark.parametrize(
    ("role", "banner", "link"),
    [("admin", True, True), ("referent", True, False), ("resp-a", False, False)],
)
def test_the_banner_shows_parts_down_to_admins_and_referents(
    client: FlaskClient, states: None, role: str, banner: bool, link: bool
) -> None:
    assert login(client, role) == 302
    page = client.get("/beneficiaires").get_data(as_text=True)
    assert ("Incident en cours" in page) is banner
    assert ("Asterisk et sa connexion ARI (depuis le 20/11/2026 14:05)" in page) is banner
    assert ('href="/administration/etat"' in page) is link
    assert "Base de données (depuis" not in page


def test_no_banner_once_the_part_is_back(
    client: FlaskClient, session: Session, states: None
) -> None:
    row = session.get_one(CheckState, "asterisk")
    row.ok = True
    session.commit()
    assert login(client, "referent") == 302
    assert "Incident en cours" not in client.get("/beneficiaires").get_data(as_text=True)
