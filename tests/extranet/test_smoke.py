from __future__ import annotations

from flask.testing import FlaskClient

from tests.extranet.conftest import Scenario, login


def test_manager_logs_in_and_sees_the_day(client: FlaskClient, scenario: Scenario) -> None:
    assert login(client, "resp-a") == 302
    page = client.get("/interventions/aujourdhui")
    assert page.status_code == 200, page.get_data(as_text=True)
    assert scenario.a.beneficiary.last_name in page.get_data(as_text=True)
