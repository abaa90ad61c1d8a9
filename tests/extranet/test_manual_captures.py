"""The user manual's screenshots, taken in Debian's Chromium on the demo organisation.

Each role logs in and goes through the pages its guide in ``docs/manuel/``
describes; every screenshot is written to ``docs/manuel/captures/`` under a fixed
name, so that the manual shows the screens as they are. The same pass checks the
manual against the screens: every screenshot the Markdown shows must have been
taken here, and every label the manual quotes in bold must be found on one of
the pages of its section (``tests/docs/manual.py`` reads the Markdown).
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from archive.models import ArchivedStatement
from archive.store import FileStore
from demo.organisation import load_demo
from extranet.models import LoginThrottle, Role, ThrottleScope, User
from kernel.jobs import RunStatus
from kernel.runs import JobRun
from ledger.models import (
    Antenna,
    Beneficiary,
    CallEvent,
    CarePlan,
    Funder,
    Identification,
    Visit,
    VisitStatus,
    Worker,
)
from ledger.timeutil import to_paris
from tests.conftest import PG_URL
from tests.docs import manual
from tests.extranet.conftest import NOW, PASSWORD, PASSWORD_HASH, invoice
from tests.extranet.test_browser import ARGS, ARTIFACTS, CHROMIUM

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 800}
#: The manual's pictures come from the SQLite run; the PostgreSQL run of the suite
#: (scripts/test runs both) checks the same screens but leaves its pictures aside, so
#: that a different order of equal rows never rewrites the manual.
CAPTURES = ARTIFACTS / "manuel" if PG_URL else manual.CAPTURES
#: The "Quand" column of the audit journal.
JOURNAL_TIMES = "main table td:nth-child(1)"


@dataclass
class Demo:
    """The objects of the demo organisation that the guides show."""

    incomplete_visit: int
    #: A plausible departure for it ("AAAA-MM-JJTHH:MM", Paris time).
    departure: str
    unknown_call: int
    #: A visit of October 2026, the month the referent closes.
    october_visit: int
    beneficiary: int
    worker: int
    funder: int


def _first(session: Session, query: object) -> int:
    found = session.scalars(query).first()  # type: ignore[call-overload]
    assert found is not None, query
    return int(found)


@pytest.fixture
def demo(session: Session, data_dir: Path) -> Demo:
    """A small demo organisation (six Paris antennas) on the pinned clock, with the
    accounts of the guides and what the scheduled jobs would have left."""
    load_demo(session, seed=2026, workers=48, beneficiaries=300, days=30, now=NOW)
    nord = session.scalars(select(Antenna).where(Antenna.code == "NORD")).one()
    for login, name, role, antenna in (
        ("resp-nord", "Claire Martin", Role.ANTENNA_MANAGER, nord.id),
        ("referent", "Paul Durand", Role.CENTRAL_REFERENT, None),
        ("admin", "Sophie Bernard", Role.ADMIN, None),
    ):
        session.add(
            User(
                login=login,
                name=name,
                role=role,
                antenna_id=antenna,
                password_hash=PASSWORD_HASH,
                active=True,
                last_login_at=NOW - timedelta(days=1),
            )
        )
    # What the night's jobs leave in the run journal.
    rejects = data_dir / "flows" / "rejects"
    rejects.mkdir(parents=True)
    (rejects / "rejets-planning-20261120.csv").write_text("ligne;motif\n3;code inconnu\n")
    night = NOW.replace(hour=3, minute=0)
    session.add_all(
        [
            JobRun(
                job_name="flows.daily_import",
                label="Import du planning",
                started_at=night,
                finished_at=night + timedelta(seconds=4),
                status=RunStatus.PARTIAL,
                triggered_by="scheduler",
                counts={"lignes": 412, "rejetées": 1},
                files=["flows/rejects/rejets-planning-20261120.csv"],
                message="1 ligne rejetée",
            ),
            JobRun(
                job_name="billing_export.invoices",
                label="Réception des factures définitives du Département",
                started_at=night + timedelta(hours=2),
                finished_at=night + timedelta(hours=2, seconds=2),
                status=RunStatus.SUCCESS,
                triggered_by="scheduler",
                counts={"reçues": 1},
            ),
        ]
    )
    ben = session.scalars(
        select(Beneficiary).where(Beneficiary.antenna_id == nord.id).order_by(Beneficiary.id)
    ).first()
    assert ben is not None
    sha = FileStore.under(data_dir).put(b"%PDF-1.7 etat de demonstration")
    session.add(
        ArchivedStatement(
            beneficiary_id=ben.id,
            antenna_id=nord.id,
            year=2026,
            month=10,
            version=1,
            sha256=sha,
            size=30,
            figures_digest="0" * 64,
            signed_at=NOW - timedelta(days=14),
            triggered_by="scheduler",
        )
    )
    invoice(session, data_dir, "FACTURE-APA-75018-202610.pdf", "75018")
    # A funder whose identifier the Département has not given yet: "Non télétransmis".
    pch = session.scalars(select(Funder).where(Funder.code == "PCH75")).one()
    pch.platform_id = ""
    # A login locked after too many failures, for the administrator's page.
    session.add(
        LoginThrottle(
            scope=ThrottleScope.LOGIN,
            key="m.dupont",
            failures=10,
            window_started_at=NOW - timedelta(minutes=5),
            locked_until=NOW + timedelta(minutes=10),
            last_attempt_at=NOW - timedelta(minutes=5),
        )
    )
    session.flush()
    open_visit = session.scalars(
        select(Visit)
        .where(Visit.antenna_id == nord.id, Visit.status == VisitStatus.INCOMPLETE)
        .where(Visit.started_at.is_not(None), Visit.ended_at.is_(None))
        .order_by(Visit.started_at.desc())
    ).first()
    assert open_visit is not None and open_visit.started_at is not None
    departure = to_paris(open_visit.started_at) + timedelta(hours=1)
    found = Demo(
        incomplete_visit=open_visit.id,
        departure=departure.strftime("%Y-%m-%dT%H:%M"),
        october_visit=_first(
            session,
            select(Visit.id)
            .where(Visit.antenna_id == nord.id, Visit.status == VisitStatus.COMPLETE)
            .where(Visit.service_date < date(2026, 11, 1))
            .order_by(Visit.id),
        ),
        unknown_call=_first(
            session,
            select(CallEvent.id)
            .where(
                CallEvent.antenna_id == nord.id,
                CallEvent.identification == Identification.UNKNOWN_NUMBER,
            )
            .order_by(CallEvent.answered_at.desc()),
        ),
        beneficiary=_first(
            session,
            select(CarePlan.beneficiary_id)
            .join(Beneficiary)
            .where(Beneficiary.antenna_id == nord.id)
            .order_by(CarePlan.ends_on, CarePlan.id),
        ),
        worker=_first(
            session, select(Worker.id).where(Worker.antenna_id == nord.id).order_by(Worker.id)
        ),
        funder=_first(session, select(CarePlan.funder_id).order_by(CarePlan.funder_id)),
    )
    session.commit()
    return found


@pytest.fixture
def server(app: Flask, demo: Demo) -> Iterator[str]:
    httpd: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


@dataclass
class Camera:
    """Takes the screenshots and keeps each page's text for the label check."""

    browser: object
    server: str
    texts: dict[str, str] = field(default_factory=dict)

    def tab(self) -> object:
        context = self.browser.new_context(  # type: ignore[attr-defined]
            base_url=self.server, locale="fr-FR", timezone_id="Europe/Paris", viewport=VIEWPORT
        )
        return context.new_page()

    def log_in(self, login: str) -> object:
        page = self.tab()
        page.goto("/connexion")  # type: ignore[attr-defined]
        page.get_by_label("Identifiant").fill(login)  # type: ignore[attr-defined]
        page.get_by_label("Mot de passe").fill(PASSWORD)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Se connecter").click()  # type: ignore[attr-defined]
        page.wait_for_url("**/interventions/aujourdhui")  # type: ignore[attr-defined]
        return page

    def shoot(
        self, page: object, name: str, target: str | None = None, mask: str | None = None
    ) -> None:
        """Screenshot the viewport (or one element) as ``captures/<name>.png``.

        ``mask`` covers the elements it selects with a grey box: the times the
        application writes with the real clock (audit entries, versions), which the
        pinned clock of the pages does not govern, so that two runs give one picture.
        """
        page.locator("main h1").wait_for()  # type: ignore[attr-defined]
        options: dict[str, object] = {"animations": "disabled"}
        if mask is not None:
            options.update(mask=[page.locator(mask)], mask_color="#dfe3e8")  # type: ignore[attr-defined]
        if target is None:
            raw = page.screenshot(**options)  # type: ignore[attr-defined]
        else:
            raw = page.locator(target).first.screenshot(**options)  # type: ignore[attr-defined]
        self.texts[name] = page.locator("body").inner_text()  # type: ignore[attr-defined]
        write_png(raw, CAPTURES / f"{name}.png")


def write_png(raw: bytes, path: Path) -> None:
    """A small PNG: 128 colours without dithering keep text sharp at a fraction of the size."""
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    small = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


@pytest.fixture
def camera(server: str) -> Iterator[Camera]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.txt)")
    with playwright_api.sync_playwright() as p:
        # The browser's language (its environment's, with Debian's chromium-l10n) sets how
        # date fields read: JJ/MM/AAAA HH:MM, as French users see them.
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*ARGS, "--lang=fr-FR"],
            env={**os.environ, "LANG": "fr_FR.UTF-8", "LANGUAGE": "fr_FR:fr"},
        )
        yield Camera(launched, server)
        launched.close()


def _manager(c: Camera, d: Demo) -> None:
    expect = playwright_api.expect
    p = c.tab()
    p.goto("/connexion")  # type: ignore[attr-defined]
    c.shoot(p, "connexion")
    p = c.log_in("resp-nord")
    c.shoot(p, "responsable-interventions-du-jour")
    p.goto("/interventions/aujourdhui?vue=beneficiaires")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-interventions-par-beneficiaire")
    p.goto("/planning")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-planning")
    p.goto("/appels/incomplets")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-appels-incomplets")

    p.goto(f"/interventions/{d.incomplete_visit}")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-intervention")
    visit_text = p.locator("dl.facts").inner_text()  # type: ignore[attr-defined]
    assert "Arrivée sans départ" in visit_text, visit_text
    p.get_by_label("Départ (heure de Paris)").fill(d.departure)  # type: ignore[attr-defined]
    p.get_by_label("Motif de la correction").select_option(label="Oubli de l'intervenant")  # type: ignore[attr-defined]
    p.get_by_label("Commentaire").fill("Départ non pointé, confirmé par la bénéficiaire")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-correction", "section.card")
    p.get_by_role("button", name="Enregistrer la correction").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("status")).to_contain_text("Intervention corrigée")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-intervention-corrigee")
    c.shoot(
        p,
        "responsable-historique",
        "section:has(> h2:text-is('Historique des versions'))",
        mask="section:has(> h2:text-is('Historique des versions')) td:nth-child(2)",
    )

    p.goto(f"/appels/{d.unknown_call}/rattacher")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-rattacher-un-appel")
    p.goto("/interventions/saisie")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-saisie-manuelle")
    p.goto("/alertes")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-alertes")
    p.goto(f"/beneficiaires/{d.beneficiary}")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-beneficiaire")
    p.goto(f"/intervenants/{d.worker}")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-intervenant")
    p.goto("/statistiques")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-statistiques")
    p.goto("/statistiques/appels-incomplets?periode=mois&mois=2026-11")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-statistiques-etat")
    p.goto("/etats-mensuels")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-etats-mensuels")
    p.goto("/factures-departement")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-factures")
    p.goto("/journal")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-journal", mask=JOURNAL_TIMES)
    p.goto("/mon-compte/mot-de-passe")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-mot-de-passe")
    # The month to finish: October, in review since the 5th of November.
    p.get_by_role("link", name="Clôture mensuelle").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", level=1)).to_contain_text("octobre 2026")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-cloture")


def _manager_after_the_close(c: Camera, d: Demo) -> None:
    expect = playwright_api.expect
    p = c.log_in("resp-nord")
    p.goto(f"/interventions/{d.october_visit}")  # type: ignore[attr-defined]
    p.get_by_label("Motif de la correction").select_option(label="Horaire erroné")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Enregistrer la correction").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("alert")).to_contain_text("clôturé")  # type: ignore[attr-defined]
    c.shoot(p, "responsable-correction-refusee", "section.card")


def _referent(c: Camera, d: Demo) -> None:
    p = c.log_in("referent")
    c.shoot(p, "referent-interventions-du-jour")
    p.goto("/statistiques")  # type: ignore[attr-defined]
    c.shoot(p, "referent-statistiques")
    p.goto("/statistiques/financeurs?periode=mois&mois=2026-11")  # type: ignore[attr-defined]
    c.shoot(p, "referent-statistiques-financeurs")
    p.goto("/echanges")  # type: ignore[attr-defined]
    c.shoot(p, "referent-echanges")


def _card(heading: str) -> str:
    """The selector of the card titled ``heading`` (the close and reopen forms)."""
    return f"section.card:has(> h2:text-is('{heading}'))"


def _press(page: object, starting: str) -> None:
    """Click the button whose name starts with ``starting`` (the month is in its name)."""
    page.get_by_role("button", name=re.compile(f"^{starting}")).click()  # type: ignore[attr-defined]


def _referent_closes(c: Camera, d: Demo) -> None:
    expect = playwright_api.expect
    p = c.log_in("referent")
    p.get_by_role("link", name="Clôture mensuelle").click()  # type: ignore[attr-defined]
    expect(p.locator("#etat-mois")).to_have_text("En revue")  # type: ignore[attr-defined]
    c.shoot(p, "referent-cloture-en-revue")
    c.shoot(p, "referent-pro-forma", "section:has(> #pro-forma)")
    p.locator("#pro-forma a").first.click()  # type: ignore[attr-defined]
    c.shoot(p, "referent-pro-forma-financeur")
    p.locator("#lignes a").first.click()  # type: ignore[attr-defined]
    c.shoot(p, "referent-pro-forma-interventions")
    p.go_back()  # type: ignore[attr-defined]
    p.go_back()  # type: ignore[attr-defined]
    validate = p.get_by_role("button", name=re.compile("^Valider"))  # type: ignore[attr-defined]
    while validate.count():
        validate.first.click()
        expect(p.get_by_role("status")).to_be_visible()  # type: ignore[attr-defined]
    c.shoot(p, "referent-cloturer", _card("Clôturer le mois"))
    _press(p, "Clôturer")
    expect(p.locator("#etat-mois")).to_have_text("Clôturé")  # type: ignore[attr-defined]
    c.shoot(p, "referent-cloture-cloturee")


def _referent_reopens(c: Camera, d: Demo) -> None:
    expect = playwright_api.expect
    p = c.log_in("referent")
    p.get_by_role("link", name="Clôture mensuelle").click()  # type: ignore[attr-defined]
    p.get_by_label("Motif de la réouverture").fill(  # type: ignore[attr-defined]
        "Départ du 19 oublié chez Mme Da Silva, signalé par l'antenne Nord"
    )
    c.shoot(p, "referent-rouvrir", _card("Rouvrir le mois"))
    _press(p, "Rouvrir")
    expect(p.get_by_role("status")).to_contain_text("rouvert")  # type: ignore[attr-defined]
    c.shoot(p, "referent-cloture-rouverte")


def _admin(c: Camera, d: Demo) -> None:
    expect = playwright_api.expect
    p = c.log_in("admin")
    p.goto("/administration/utilisateurs")  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-utilisateurs")
    c.shoot(
        p, "administrateur-connexions-bloquees", "table:has(th:text-is('Identifiant ou adresse'))"
    )
    p.get_by_role("link", name="Créer un compte").click()  # type: ignore[attr-defined]
    p.get_by_label("Identifiant").fill("marc.petit")  # type: ignore[attr-defined]
    p.get_by_label("Nom affiché").fill("Marc Petit")  # type: ignore[attr-defined]
    p.get_by_label("Rôle").select_option(label="Responsable d'antenne")  # type: ignore[attr-defined]
    p.get_by_label("Antenne").select_option(label="Paris Sud")  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-nouveau-compte")
    p.get_by_role("button", name="Créer le compte").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", level=1)).to_have_text("Compte marc.petit créé")  # type: ignore[attr-defined]
    # The temporary password is random: hidden from the picture so that it stays the same.
    p.locator("#mot-de-passe-provisoire").evaluate("e => e.style.visibility = 'hidden'")  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-mot-de-passe-provisoire")
    p.get_by_role("link", name="Voir le compte").click()  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-compte")
    p.goto("/administration/financeurs")  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-financeurs")
    p.goto(f"/administration/financeurs/{d.funder}")  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-financeur")
    p.goto("/journal")  # type: ignore[attr-defined]
    c.shoot(p, "administrateur-journal", mask=JOURNAL_TIMES)


def test_the_manual_shows_the_screens_as_they_are(camera: Camera, demo: Demo) -> None:
    _manager(camera, demo)
    _referent(camera, demo)
    _referent_closes(camera, demo)
    _manager_after_the_close(camera, demo)
    _referent_reopens(camera, demo)
    _admin(camera, demo)

    taken = set(camera.texts)
    sections = manual.sections()
    shown = {name for s in sections for name in s.captures}
    assert not shown - taken, f"screenshots the manual shows, never taken: {shown - taken}"
    assert not taken - shown, f"screenshots taken, not shown in the manual: {taken - shown}"
    missing = []
    for section in sections:
        if not section.captures:
            continue
        text = manual.normalise(" ".join(camera.texts[n] for n in section.captures))
        missing += [
            f"{section.where}: « {label} »"
            for label in section.labels
            if manual.normalise(label) not in text
        ]
    assert not missing, "labels quoted in the manual, absent from their pages:\n" + "\n".join(
        missing
    )
    total = sum(p.stat().st_size for p in CAPTURES.glob("*.png"))
    assert total < 5_000_000, f"screenshots weigh {total} bytes"
