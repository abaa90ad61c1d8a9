"""A state and the pre-billing of the same month agree to the minute.

On a month of the demo organisation (its generator, at a scale a test runs
in seconds) with a funder rounding rule, the pre-billing file is written by
``billing_export`` and read back; the states are read back from their exports
as a user's spreadsheet would read them: state 1 per beneficiary and funder
and state 9 per worker from their CSV, state 2 per care plan and state 11's
total from their XLSX (durations, exact to the minute).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export import services
from billing_export.settings import BillingSettings
from demo.organisation import load_demo
from extranet.models import Role
from ledger.models import Antenna, Worker
from ledger.timeutil import Month
from tests.extranet.conftest import add_user, login, make_app
from tests.extranet.stats.conftest import csv_sections

YEAR, MONTH = 2026, 10
QUERY = f"periode=mois&mois={YEAR}-{MONTH:02d}"


def _prebilling(session: Session, folder: Path) -> list[dict[str, str]]:
    settings = BillingSettings(provider_id="750012345", provider_siret="12345678900011")
    facts, billing = services.compute(session, Month(YEAR, MONTH), settings)
    summary, _detail = services.write_prebilling(facts, billing, folder)
    with open(summary, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def _sum(lines: list[dict[str, str]], *keys: str) -> dict[tuple[str, ...], int]:
    totals: dict[tuple[str, ...], int] = defaultdict(int)
    for line in lines:
        totals[tuple(line[k] for k in keys)] += int(line["minutes_retenues"])
    return dict(totals)


def _csv_table(client: FlaskClient, url: str, caption_start: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200, url
    sections = csv_sections(response.get_data())
    (caption,) = [c for c in sections if c.startswith(caption_start)]
    header, *rows = sections[caption]
    return [dict(zip(header, row, strict=True)) for row in rows if row[0] != "Total"]


def _minutes(value: object) -> int:
    assert isinstance(value, timedelta), value
    return int(value // timedelta(minutes=1))


@pytest.mark.slow
def test_states_agree_with_the_prebilling_of_the_same_month(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGESTION_BILLING_ROUNDING", "APA75=15/nearest/5")
    load_demo(
        session,
        seed=11,
        workers=12,
        beneficiaries=60,
        days=31,
        now=datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
    )
    add_user(session, "referent-stats", Role.CENTRAL_REFERENT)
    antenna = session.scalars(select(Antenna).order_by(Antenna.id)).first()
    assert antenna is not None
    add_user(session, "manager-stats", Role.ANTENNA_MANAGER, antenna.id)
    session.commit()
    lines = _prebilling(session, tmp_path / "prebilling")
    assert sum(int(line["minutes_retenues"]) for line in lines) > 100 * 60

    app = make_app(session_factory, data_dir)
    with app.test_client() as client:
        assert login(client, "referent-stats") == 302
        state1 = _csv_table(client, f"/statistiques/beneficiaires.csv?{QUERY}", "Heures par")
        by_ben: dict[tuple[str, ...], int] = defaultdict(int)
        for row in state1:
            by_ben[(row["Identifiant"], row["Code financeur"])] += int(row["Minutes"])
        assert dict(by_ben) == _sum(lines, "beneficiaire", "financeur")

        state9 = _csv_table(client, f"/statistiques/intervenants.csv?{QUERY}", "Heures réalisées")
        assert {(r["Identifiant"],): int(r["Minutes"]) for r in state9} == _sum(
            lines, "intervenant"
        )

        state2 = _xlsx_rows(client, f"/statistiques/plans-d-aide.xlsx?{QUERY}", "Mois", "Autorisé")
        plans = _xlsx_rows(
            client, f"/statistiques/plans-d-aide.xlsx?{QUERY}", "Bénéficiaire", "Antenne"
        )
        consumed = {
            (str(r["Référence du plan"]),): _minutes(r["Consommé dans le plan"])
            + _minutes(r["Au-delà du plan"])
            for r in plans
            if r["Bénéficiaire"] != "Total"
        }
        in_plans = {k: v for k, v in _sum(lines, "plan").items() if k != ("",)}
        assert {k: v for k, v in consumed.items() if v} == in_plans
        month_row = next(r for r in state2 if r["Mois"] == "octobre 2026")
        assert _minutes(month_row["Consommé dans le plan"]) + _minutes(
            month_row["Au-delà du plan"]
        ) == sum(in_plans.values())

        activity = _xlsx_rows(
            client,
            f"/statistiques/activite-mensuelle.xlsx?{QUERY}",
            "Antenne",
            "Bénéficiaires actifs",
        )
        total = next(r for r in activity if r["Antenne"] == "Total")
        assert _minutes(total["Heures réalisées"]) == sum(_sum(lines, "mois").values())

    # A manager's state is the pre-billing of their antenna's workers.
    refs = set(session.scalars(select(Worker.external_id).where(Worker.antenna_id == antenna.id)))
    with app.test_client() as client:
        assert login(client, "manager-stats") == 302
        state9 = _csv_table(client, f"/statistiques/intervenants.csv?{QUERY}", "Heures réalisées")
        assert {(r["Identifiant"],): int(r["Minutes"]) for r in state9} == {
            k: v for k, v in _sum(lines, "intervenant").items() if k[0] in refs
        }


def _xlsx_rows(client: FlaskClient, url: str, *headers: str) -> list[dict[str, object]]:
    """The rows of the sheet whose table's header starts with ``headers``."""
    response = client.get(url)
    for sheet in load_workbook(io.BytesIO(response.get_data())).worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        starts = [i for i, r in enumerate(rows) if r[: len(headers)] == headers]
        if starts:
            header = rows[starts[0]]
            return [dict(zip(header, r, strict=False)) for r in rows[starts[0] + 1 :]]
    raise AssertionError(f"no table starting with {headers!r} in {url}")
