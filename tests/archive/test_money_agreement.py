"""Six readers of one month agree to the minute per beneficiary and funder.

The rule of money has one home (``ledger.money``); this test keeps it there.
On a demo month (the demo organisation's generator, at a scale a test can
sign), each output is produced by its own code path and read back as its
reader would: the statistics page (HTML, through the extranet), the visits
CSV (through the extranet), the monthly service-done file, the pre-billing
file, the ESPPADOM DELIVERY files (parsed and schema-checked) and the signed
statements (text extracted from the PDFs with poppler's pdftotext). It lives
beside the archive's tests for their trial PKI fixtures; it runs on SQLite
and on PostgreSQL like the rest of the suite.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive import pipeline, store
from archive.models import ArchivedStatement
from archive.settings import ArchiveSettings
from billing_export import services
from billing_export.settings import BillingSettings
from demo.organisation import load_demo
from extranet.models import Role
from flows.exporter import export_service_done
from kernel.settings import CoreSettings
from ledger.models import Beneficiary, CarePlan, Funder
from ledger.timeutil import Month
from tests.archive import readers
from tests.extranet.conftest import add_user, csrf_token, login, make_app

YEAR, MONTH = 2026, 10
Key = tuple[str, str]  # (beneficiary external id, funder code; "" outside any plan)


def _add(totals: dict[Key, int], ben: str, funder: str, minutes: int) -> None:
    totals[(ben, funder)] += minutes


def statistics_page(session_factory: sessionmaker[Session], data_dir: Path) -> dict[Key, int]:
    app = make_app(session_factory, data_dir)
    with app.test_client() as client:
        assert login(client, "referent-agreement") == 302
        page = client.get(f"/statistiques/beneficiaires?mois={YEAR}-{MONTH:02d}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
    totals: dict[Key, int] = defaultdict(int)
    rows = re.findall(
        r'<tr data-beneficiary="([^"]*)" data-funder="([^"]*)">.*?'
        r'<td class="num minutes">(\d+)</td>',
        text,
        re.S,
    )
    for ben, funder, minutes in rows:
        _add(totals, html.unescape(ben), html.unescape(funder), int(minutes))
    return dict(totals)


def visits_csv(session_factory: sessionmaker[Session], data_dir: Path) -> dict[Key, int]:
    app = make_app(session_factory, data_dir)
    with app.test_client() as client:
        assert login(client, "referent-agreement") == 302
        token = csrf_token(client, "/interventions/aujourdhui")
        response = client.post(
            "/interventions/export.csv",
            data={"csrf_token": token, "first": f"{YEAR}-{MONTH:02d}-01", "last": "2026-10-31"},
        )
        assert response.status_code == 200
        body = response.get_data(as_text=True).lstrip("\ufeff")
    totals: dict[Key, int] = defaultdict(int)
    for row in csv.DictReader(io.StringIO(body), delimiter=";"):
        ben = re.search(r"\(([^()]*)\)$", row["bénéficiaire"])
        assert ben is not None
        for part in filter(None, (p.strip() for p in row["répartition"].split("|"))):
            funder, _, minutes = part.rpartition(":")
            _add(totals, ben.group(1), "" if funder == "hors plan" else funder, int(minutes))
    return dict(totals)


def service_done_file(session: Session, data_dir: Path) -> dict[Key, int]:
    return readers.service_done(export_service_done(session, YEAR, MONTH, data_dir).path)


def prebilling_file(session: Session, settings: BillingSettings, folder: Path) -> dict[Key, int]:
    facts, billing = services.compute(session, Month(YEAR, MONTH), settings)
    summary, _detail = services.write_prebilling(facts, billing, folder)
    return readers.prebilling(summary)


def esppadom_files(
    session: Session, settings: BillingSettings, folder: Path
) -> tuple[dict[Key, int], set[str]]:
    """Per beneficiary and funder from the DELIVERY files; and the funders they cover."""
    facts, billing = services.compute(session, Month(YEAR, MONTH), settings)
    issued = datetime(2026, 11, 6, 5, tzinfo=UTC)
    plan = services.plan_send(session, facts, billing)
    assert not plan.held_back and not plan.blocked
    files = services.write_files(session, plan, facts, settings, issued, folder)
    ben_of_reference = {
        ref: ext
        for ref, ext in session.execute(
            select(CarePlan.reference, Beneficiary.external_id).join(
                Beneficiary, Beneficiary.id == CarePlan.beneficiary_id
            )
        )
    }
    latest = readers.esppadom_latest([w.path for w in files], ben_of_reference)
    return readers.esppadom_totals(latest), {f.funder for f in files}


def signed_statements(
    session_factory: sessionmaker[Session],
    core: CoreSettings,
    archive_settings: ArchiveSettings,
) -> dict[Key, int]:
    pipeline.run_month(
        session_factory, core, archive_settings, YEAR, MONTH, triggered_by="test", processes=1
    )
    files = store.FileStore.under(core.data_dir)
    totals: dict[Key, int] = defaultdict(int)
    with session_factory() as session:
        code_of = {name: code for code, name in session.execute(select(Funder.code, Funder.name))}
        rows = session.execute(
            select(ArchivedStatement, Beneficiary.external_id)
            .join(Beneficiary, Beneficiary.id == ArchivedStatement.beneficiary_id)
            .where(ArchivedStatement.year == YEAR, ArchivedStatement.month == MONTH)
        ).all()
    assert rows
    totals: dict[Key, int] = defaultdict(int)
    for statement, ben in rows:
        for code, minutes in readers.statement_pdf(
            files.path_of(statement.sha256), code_of
        ).items():
            _add(totals, ben, code, minutes)
    return dict(totals)


@pytest.mark.slow
def test_six_readers_agree_to_the_minute_per_beneficiary_and_funder(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    core: CoreSettings,
    archive_settings: ArchiveSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A funder rounding rule, so that kept minutes differ from recorded ones.
    monkeypatch.setenv("TELEGESTION_BILLING_ROUNDING", "APA75=15/nearest/5")
    load_demo(
        session,
        seed=7,
        workers=12,
        beneficiaries=60,
        days=31,
        now=datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
    )
    add_user(session, "referent-agreement", Role.CENTRAL_REFERENT)
    session.commit()
    settings = BillingSettings(provider_id="750012345", provider_siret="12345678900011")

    stats = statistics_page(session_factory, data_dir)
    exported = visits_csv(session_factory, data_dir)
    done = service_done_file(session, tmp_path / "flows")
    prebilled = prebilling_file(session, settings, tmp_path / "prebilling")
    declared, declared_funders = esppadom_files(session, settings, tmp_path / "esppadom")
    signed = signed_statements(session_factory, core, archive_settings)

    assert sum(stats.values()) > 100 * 60  # a real month, not an empty one
    assert any(funder == "" for _ben, funder in stats)  # minutes outside any plan exist
    assert "APA75" in declared_funders and "CNAV" not in declared_funders
    assert exported == stats
    assert done == stats
    assert prebilled == stats
    assert signed == stats
    assert declared == {key: m for key, m in stats.items() if key[1] in declared_funders}
