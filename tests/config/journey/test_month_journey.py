"""A whole month on the real parts, from the calls to the versioned outputs (issue 12).

Calls go through the real Asterisk into the real IVR process; a manager corrects the
incomplete and wrong visits in Debian's Chromium before the cut-off; once the month
is in review a referent validates each funder's pro-forma and closes it in the
browser; a correction is then refused; the scheduled jobs produce the four monthly
outputs (the service-done file, the pre-billing, the ESPPADOM teletransmission, the
signed statements), read back as their receivers would and equal to the minute per
beneficiary × funder; the referent reopens with a motive, the manager corrects, the
referent closes again, and the outputs come out as new versions (``_v2`` files,
correction lines for the Département, statement version 2 linked to version 1),
the first ones untouched.

The calls are real, so the month is the one the test runs in; the extranet's
clock is moved forward (before the cut-off, then after it): the one fake here, for
a date the real parts cannot produce on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.jobs import jobs as archive_jobs
from archive.models import ArchivedStatement
from archive.store import FileStore
from billing_export.jobs import jobs as billing_jobs
from extranet.models import Role
from flows.jobs import jobs as flows_jobs
from kernel.jobs import RunStatus, ScheduledJob
from kernel.scheduler import run_job
from kernel.settings import CoreSettings
from ledger.closing import Cutoff
from ledger.funders import set_identity
from ledger.models import Beneficiary, CarePlan, Funder, FunderKind, Visit, VisitStatus
from ledger.timeutil import Month, as_utc, paris_date, to_paris, utc_now
from tests import factories
from tests.archive import readers
from tests.extranet.conftest import PASSWORD, add_user, make_app
from tests.extranet.live import chromium, serve
from tests.ivr.conftest import Asterisk, IvrProcess, wait_event

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.asterisk, pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "month-journey"


class Clock:
    """The extranet's clock: the real one, moved forward by the test."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or utc_now()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(session_factory: sessionmaker[Session], data_dir: Path, clock: Clock) -> Iterator[str]:
    with serve(make_app(session_factory, data_dir, clock=clock)) as url:
        yield url


@pytest.fixture
def browser(server: str) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        yield launched


def tab(browser: Any, server: str, login: str) -> Any:
    context = browser.new_context(
        base_url=server, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto("/connexion")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    playwright_api.expect(page.get_by_role("heading", level=1)).to_contain_text("Interventions")
    return page


def local(moment: datetime) -> str:
    """A datetime-local field's value: Paris wall time to the minute."""
    return to_paris(moment).strftime("%Y-%m-%dT%H:%M")


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def correct(page: Any, visit_id: int, *, ended_at: datetime, comment: str) -> None:
    page.goto(f"/interventions/{visit_id}")
    page.get_by_label("Départ (heure de Paris)").fill(local(ended_at))
    page.get_by_label("Motif de la correction").select_option(label="Oubli de l'intervenant")
    page.get_by_label("Commentaire").fill(comment)
    page.get_by_role("button", name="Enregistrer la correction").click()


def close_in_browser(page: Any, month: Month, funders: list[str]) -> None:
    expect = playwright_api.expect
    page.goto(f"/cloture/{month}")
    expect(page.locator("#etat-mois")).to_have_text("En revue")
    for name in funders:
        page.get_by_role("button", name=f"Valider {name}").click()
        expect(page.get_by_role("status")).to_be_visible()
    page.get_by_role("button", name=f"Clôturer {month.label}").click()
    expect(page.locator("#etat-mois")).to_have_text("Clôturé")


def monthly_jobs() -> list[ScheduledJob]:
    wanted = ("flows.monthly_export", "billing_export.monthly_delivery")
    found = [j for j in [*flows_jobs(), *billing_jobs()] if j.name in wanted]
    found += [j for j in archive_jobs() if j.name == "archive.monthly_statements"]
    assert [j.name for j in found] == [*wanted, "archive.monthly_statements"]
    return found


def run_outputs(session_factory: sessionmaker[Session], data_dir: Path) -> None:
    """The scheduled monthly jobs, as the scheduler runs them.

    In a thread of their own: Playwright's sync API keeps an event loop running in
    the test's thread, and the signer runs one of its own (as in the scheduler).
    """
    with ThreadPoolExecutor(1) as pool:
        for job in monthly_jobs():
            run = pool.submit(run_job, job, session_factory, data_dir).result()
            assert run.status is RunStatus.SUCCESS, (job.name, run.message)


def ben_refs(session: Session) -> dict[str, str]:
    return dict(
        session.execute(
            select(CarePlan.reference, Beneficiary.external_id).join(
                Beneficiary, Beneficiary.id == CarePlan.beneficiary_id
            )
        ).all()
    )


def statements(session: Session, core: CoreSettings, month: Month) -> dict[str, Any]:
    """The latest signed statement of each beneficiary: its row and its minutes per funder."""
    code_of_name = {f.name: f.code for f in session.scalars(select(Funder))}
    files = FileStore.under(core.data_dir)
    latest: dict[str, Any] = {}
    for row, ext in session.execute(
        select(ArchivedStatement, Beneficiary.external_id)
        .join(Beneficiary, Beneficiary.id == ArchivedStatement.beneficiary_id)
        .where(ArchivedStatement.year == month.year, ArchivedStatement.month == month.month)
        .order_by(ArchivedStatement.version)
    ):
        latest[ext] = (row, readers.statement_pdf(files.path_of(row.sha256), code_of_name))
    return latest


def signed_totals(signed: dict[str, Any]) -> dict[readers.Key, int]:
    return {
        (ben, code): minutes
        for ben, (_row, by_funder) in signed.items()
        for code, minutes in by_funder.items()
        if minutes
    }


def test_a_month_from_the_calls_to_the_versioned_outputs(
    ivr: IvrProcess,
    asterisk: Asterisk,
    org: factories.SmallOrg,
    session: Session,
    session_factory: sessionmaker[Session],
    core: CoreSettings,
    data_dir: Path,
    browser: Any,
    server: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expect = playwright_api.expect
    monkeypatch.setenv("TELEGESTION_CORE_DATABASE_URL", core.effective_database_url)
    monkeypatch.setenv("TELEGESTION_CORE_DATA_DIR", str(core.data_dir))
    monkeypatch.setenv("TELEGESTION_ARCHIVE_PROCESSES", "1")

    # The organisation: an APA plan (teletransmitted) and a pension fund's plan (not).
    apa = factories.funder(session, FunderKind.APA, "APA75")
    set_identity(
        session,
        apa,
        author="admin",
        platform_id="CD75-APA",
        departement_code="75",
        aid_type="APA",
        service_codes={},
    )
    caisse = factories.funder(session, FunderKind.PENSION_FUND, "CNAV")
    factories.care_plan(session, org.ben_a1, apa)
    factories.care_plan(session, org.ben_a2, caisse)
    add_user(session, "resp-a", Role.ANTENNA_MANAGER, org.antenna_a.id)
    add_user(session, "referent", Role.CENTRAL_REFERENT)
    session.commit()
    a1, a2 = org.ben_a1.external_id, org.ben_a2.external_id

    # Real calls: worker 1234 arrives at A1 and forgets the departure; worker 5678
    # arrives at A2 and leaves at once (a departure keyed too early).
    wait_event(session_factory, asterisk.call("0145678901", "1234#"))
    wait_event(session_factory, asterisk.call("0145678902", "5678#"))
    wait_event(session_factory, asterisk.call("0145678902", "5678#"))
    with session_factory() as s:
        [v1] = s.scalars(select(Visit).where(Visit.worker_id == org.worker_a1.id)).all()
        [v2] = s.scalars(select(Visit).where(Visit.worker_id == org.worker_a2.id)).all()
        assert v1.status is VisitStatus.INCOMPLETE and v2.status is VisitStatus.COMPLETE
        assert v1.started_at is not None and v2.started_at is not None
        v1_id, v1_start = v1.id, as_utc(v1.started_at)
        v2_id, v2_start = v2.id, as_utc(v2.started_at)
    month = Month.of(paris_date(v1_start))
    cutoff = Cutoff().at(month)

    # Before the cut-off, the manager corrects both in the browser (the next morning:
    # an arrival is "without departure" once 14 hours have passed, ledger.anomalies).
    clock.at = max(utc_now(), v1_start, v2_start) + timedelta(hours=15)
    manager = tab(browser, server, "resp-a")
    manager.goto(f"/cloture/{month}")
    expect(manager.locator("#a-corriger")).to_contain_text("1 appel incomplet")
    correct(manager, v1_id, ended_at=minute(v1_start) + timedelta(minutes=120), comment="Oubli")
    expect(manager.get_by_role("status")).to_contain_text("Intervention corrigée")
    correct(manager, v2_id, ended_at=minute(v2_start) + timedelta(minutes=90), comment="Trop tôt")
    expect(manager.get_by_role("status")).to_contain_text("Intervention corrigée")
    manager.goto(f"/cloture/{month}")
    expect(manager.locator("#a-corriger")).to_contain_text("0 appel incomplet")
    manager.screenshot(path=str(ARTIFACTS / "01-responsable-avant-cloture.png"), full_page=True)

    # Nothing monthly leaves an open month.
    run_outputs(session_factory, data_dir)
    outbox = data_dir / "flows" / "outbox"
    assert not list(outbox.glob("prestations_*.csv"))
    assert session.scalar(select(ArchivedStatement.id)) is None

    # After the cut-off, the referent validates each funder and closes the month.
    clock.at = cutoff + timedelta(hours=1)
    referent = tab(browser, server, "referent")
    close_in_browser(referent, month, [apa.name, caisse.name])
    referent.screenshot(path=str(ARTIFACTS / "02-referent-mois-cloture.png"), full_page=True)

    # A correction of the closed month is refused, with who can reopen it.
    correct(manager, v1_id, ended_at=minute(v1_start) + timedelta(minutes=150), comment="Après")
    expect(manager.get_by_role("alert")).to_contain_text("est clôturé")
    expect(manager.get_by_role("alert")).to_contain_text("rouvrir")

    # The four outputs, from the closed month, equal to the minute.
    run_outputs(session_factory, data_dir)
    expected = {(a1, "APA75"): 120, (a2, "CNAV"): 90}
    stamp = f"{month.year:04d}{month.month:02d}"
    done_v1 = outbox / f"prestations_{stamp}.csv"
    assert readers.service_done(done_v1) == expected
    prebilling = data_dir / "billing" / "prebilling"
    assert readers.prebilling(prebilling / f"prebilling-{month}.csv") == expected
    deliveries = sorted((data_dir / "flows" / "remote" / "esppadom" / "depot").glob("*.xml"))
    assert len(deliveries) == 1 and "-APA75-" in deliveries[0].name
    session.expire_all()
    refs = ben_refs(session)
    first_send = readers.esppadom_latest(deliveries, refs)
    assert readers.esppadom_totals(first_send) == {(a1, "APA75"): 120}
    assert {code for _key, _m, code in first_send.values()} == {"COD"}  # a corrected departure
    signed = statements(session, core, month)
    assert signed_totals(signed) == expected
    assert {row.version for row, _ in signed.values()} == {1}
    v1_statement_a1 = signed[a1][0]
    first_files = {p: p.read_bytes() for p in [done_v1, *deliveries]}

    # The referent reopens with a motive; the manager corrects; a second close.
    referent.goto(f"/cloture/{month}")
    referent.get_by_label("Motif de la réouverture").fill("Départ de A1 confirmé à 30 min de plus")
    referent.get_by_role("button", name=f"Rouvrir {month.label}").click()
    expect(referent.get_by_role("status")).to_contain_text("rouvert")
    correct(manager, v1_id, ended_at=minute(v1_start) + timedelta(minutes=150), comment="Après")
    expect(manager.get_by_role("status")).to_contain_text("Intervention corrigée")
    close_in_browser(referent, month, [apa.name, caisse.name])  # a new cycle: validated again
    run_outputs(session_factory, data_dir)

    # Versioned outputs: the first files untouched, the new ones beside them.
    assert {p: p.read_bytes() for p in first_files} == first_files
    second = {(a1, "APA75"): 150, (a2, "CNAV"): 90}
    assert readers.service_done(outbox / f"prestations_{stamp}_v2.csv") == second
    assert readers.prebilling(prebilling / f"prebilling-{month}-v2.csv") == second
    assert readers.prebilling(prebilling / f"prebilling-{month}.csv") == expected
    now_sent = sorted((data_dir / "flows" / "remote" / "esppadom" / "depot").glob("*.xml"))
    [correction] = [p for p in now_sent if p not in deliveries]
    corrections = readers.esppadom_latest([correction], refs)
    assert list(corrections) == list(first_send)  # the same document id, declared again
    assert readers.esppadom_totals(readers.esppadom_latest(now_sent, refs)) == {(a1, "APA75"): 150}
    session.expire_all()
    signed = statements(session, core, month)
    assert signed_totals(signed) == second
    row_a1, _ = signed[a1]
    assert row_a1.version == 2 and row_a1.supersedes_id == v1_statement_a1.id
    assert signed[a2][0].version == 1  # unchanged figures: no new version
