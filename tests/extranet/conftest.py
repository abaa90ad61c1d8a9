"""Extranet fixtures: the app on the test database, users of every role, and a scenario
with objects of every kind in two antennas (A: NORD, B: SUD)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from archive.models import ArchivedStatement
from archive.store import FileStore
from billing_export.models import ReceivedInvoice
from extranet.app import AppConfig, create_app
from extranet.models import Role, User
from extranet.passwords import hash_password
from extranet.settings import ExtranetSettings
from kernel.jobs import RunStatus
from kernel.runs import JobRun
from ledger import service
from ledger.models import (
    Antenna,
    Beneficiary,
    CallEvent,
    FunderKind,
    Identification,
    PlannedVisit,
    Visit,
    Worker,
)
from ledger.pairing import Direction
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_service import record

#: The app's pinned "now": Friday 20 November 2026, 16:00 in Paris.
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)
PASSWORD = "correct horse battery staple"
SECRET = "s" * 48
#: Hashed once: argon2 is slow on purpose.
PASSWORD_HASH = hash_password(PASSWORD)


@dataclass
class Side:
    """One antenna's objects of every kind."""

    antenna: Antenna
    worker: Worker
    beneficiary: Beneficiary
    new_beneficiary: Beneficiary
    complete_visit: Visit
    incomplete_visit: Visit
    unknown_call: CallEvent
    plan_id: int
    statement_id: int
    manager: str
    #: The Département's invoice of this antenna's arrondissement, and its funder.
    invoice_id: int
    funder_id: int
    #: The code of the side's APA funder (each side has its own).
    funder_code: str


@dataclass
class Scenario:
    a: Side
    b: Side
    run_id: int
    bad_run_id: int
    #: Account ids by login.
    users: dict[str, int]
    #: An invoice whose name gives no arrondissement: central roles only.
    unassigned_invoice_id: int
    #: A funder that is not the Département's (no identity to edit).
    other_funder_id: int


def _visit(session: Session, visit_id: int | None) -> Visit:
    assert visit_id is not None
    return session.get_one(Visit, visit_id)


def invoice(session: Session, data_dir: Path, name: str, area: str) -> int:
    """A received invoice, kept as ``billing_export.invoices`` keeps them."""
    content = b"%PDF-1.7\n" + f"Facture {name}".encode() + b"\n" * 300 + b"%%EOF\n"
    digest = hashlib.sha256(content).hexdigest()
    path = data_dir / "billing" / "invoices" / f"{digest}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    row = ReceivedInvoice(
        name=name,
        sha256=digest,
        size=len(content),
        path=path.relative_to(data_dir).as_posix(),
        aid_type="APA",
        month=date(2026, 10, 1),
        area=area,
        received_at=NOW - timedelta(days=2),
    )
    session.add(row)
    session.flush()
    return row.id


def _side(
    session: Session,
    data_dir: Path,
    antenna: Antenna,
    worker: Worker,
    ben: Beneficiary,
    tag: str,
    manager: str,
) -> Side:
    other_worker = factories.worker(session, antenna)
    other_ben = factories.beneficiary(session, antenna, (f"+3314567{tag}99",))
    arrival = NOW - timedelta(hours=4)
    service.record_call(
        session,
        record(
            f"{tag}-1",
            arrival,
            worker_id=worker.id,
            beneficiary_id=ben.id,
            direction=Direction.ARRIVAL,
        ),
    )
    done = service.record_call(
        session,
        record(
            f"{tag}-2",
            arrival + timedelta(hours=1),
            worker_id=worker.id,
            beneficiary_id=ben.id,
            direction=Direction.DEPARTURE,
        ),
    )
    # A departure without an arrival: incomplete at once.
    orphan = service.record_call(
        session,
        record(
            f"{tag}-3",
            NOW - timedelta(hours=2),
            worker_id=other_worker.id,
            beneficiary_id=other_ben.id,
            direction=Direction.DEPARTURE,
        ),
    )
    unknown = service.record_call(
        session,
        record(
            f"{tag}-4",
            NOW - timedelta(hours=1),
            worker_id=worker.id,
            beneficiary_id=None,
            direction=Direction.ARRIVAL,
            identification=Identification.UNKNOWN_NUMBER,
            caller=f"01 99 00 00 {tag}",
        ),
    )
    apa = factories.funder(session, FunderKind.APA)
    plan = factories.care_plan(session, ben, apa, ends_on=TODAY + timedelta(days=30))
    new = factories.beneficiary(session, antenna)
    new.care_start = TODAY - timedelta(days=3)
    factories.care_plan(session, new, apa, starts_on=TODAY - timedelta(days=3))
    for offset in (timedelta(minutes=30), timedelta(hours=-1)):
        session.add(
            PlannedVisit(
                worker_id=other_worker.id,
                beneficiary_id=ben.id,
                antenna_id=antenna.id,
                starts_at=NOW + offset,
                ends_at=NOW + offset + timedelta(hours=1),
            )
        )
    sha = FileStore.under(data_dir).put(f"%PDF-1.7 état {tag}".encode())
    statement = ArchivedStatement(
        beneficiary_id=ben.id,
        antenna_id=antenna.id,
        year=2026,
        month=10,
        version=1,
        sha256=sha,
        size=10,
        figures_digest="0" * 64,
        signed_at=NOW - timedelta(days=14),
        triggered_by="scheduler",
    )
    session.add(statement)
    session.flush()
    antenna.areas = f"750{tag}"
    invoice_id = invoice(session, data_dir, f"FACTURE-APA-750{tag}-202610.pdf", f"750{tag}")
    return Side(
        antenna=antenna,
        worker=worker,
        beneficiary=ben,
        new_beneficiary=new,
        complete_visit=_visit(session, done.visit_id),
        incomplete_visit=_visit(session, orphan.visit_id),
        unknown_call=session.get_one(CallEvent, unknown.event_id),
        plan_id=plan.id,
        statement_id=statement.id,
        manager=manager,
        invoice_id=invoice_id,
        funder_id=apa.id,
        funder_code=apa.code,
    )


def add_user(session: Session, login: str, role: Role, antenna_id: int | None = None) -> User:
    user = User(
        login=login,
        name=login.title(),
        role=role,
        antenna_id=antenna_id,
        password_hash=PASSWORD_HASH,
        active=True,
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def scenario(session: Session, org: SmallOrg, data_dir: Path) -> Scenario:
    a = _side(session, data_dir, org.antenna_a, org.worker_a1, org.ben_a1, "01", "resp-a")
    b = _side(session, data_dir, org.antenna_b, org.worker_b1, org.ben_b1, "02", "resp-b")
    users = {
        u.login: u.id
        for u in (
            add_user(session, "resp-a", Role.ANTENNA_MANAGER, org.antenna_a.id),
            add_user(session, "resp-b", Role.ANTENNA_MANAGER, org.antenna_b.id),
            add_user(session, "referent", Role.CENTRAL_REFERENT),
            add_user(session, "admin", Role.ADMIN),
        )
    }
    rejects = data_dir / "flows" / "rejects"
    rejects.mkdir(parents=True)
    (rejects / "rejets-planning.csv").write_text("ligne;motif\n3;code inconnu\n")
    (data_dir.parent / "outside.txt").write_text("secret")
    good = JobRun(
        job_name="flows.daily_import",
        label="Import du planning",
        started_at=NOW - timedelta(hours=10),
        finished_at=NOW - timedelta(hours=10) + timedelta(seconds=5),
        status=RunStatus.PARTIAL,
        triggered_by="scheduler",
        counts={"lignes": 10, "rejetées": 1},
        files=["flows/rejects/rejets-planning.csv"],
        message="1 ligne rejetée",
    )
    bad = JobRun(
        job_name="flows.daily_import",
        label="Import du planning",
        started_at=NOW - timedelta(hours=9),
        status=RunStatus.FAILED,
        triggered_by="scheduler",
        files=["../outside.txt"],
    )
    session.add_all([good, bad])
    unassigned = invoice(session, data_dir, "FACTURE-PCH-202610.pdf", "")
    cnav = factories.funder(session, FunderKind.PENSION_FUND)
    session.commit()
    return Scenario(a, b, good.id, bad.id, users, unassigned, cnav.id)


def make_app(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    clock: Callable[[], datetime] = lambda: NOW,
    **settings: object,
) -> Flask:
    return create_app(
        AppConfig(
            session_factory=session_factory,
            data_dir=data_dir,
            secret_key=SECRET,
            settings=ExtranetSettings(**settings),  # type: ignore[arg-type]
            clock=clock,
        )
    )


@pytest.fixture
def app(session_factory: sessionmaker[Session], data_dir: Path) -> Flask:
    return make_app(session_factory, data_dir)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client


TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/connexion") -> str:
    page = client.get(path)
    found = TOKEN.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def login(client: FlaskClient, user: str, password: str = PASSWORD) -> int:
    token = csrf_token(client)
    response = client.post(
        "/connexion", data={"login": user, "password": password, "csrf_token": token}
    )
    return response.status_code


ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def gunicorn_env() -> dict[str, str]:
    """Extra settings for the ``gunicorn`` fixture (a test overrides this fixture)."""
    return {}


@pytest.fixture
def gunicorn(
    database_url: str, engine: object, data_dir: Path, gunicorn_env: dict[str, str]
) -> Iterator[Server]:
    """The extranet under a real gunicorn (the production configuration, two
    workers of four threads) on the test database, on a free loopback port.

    Its clock is the real one, not ``NOW``. Cookies are not marked Secure (plain
    HTTP on loopback, for clients other than browsers).
    """
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TELEGESTION_CORE_DATA_DIR": str(data_dir),
        "TELEGESTION_CORE_DATABASE_URL": database_url,
        "TELEGESTION_EXTRANET_SECRET_KEY": SECRET,
        "TELEGESTION_EXTRANET_BIND": f"127.0.0.1:{port}",
        "TELEGESTION_EXTRANET_WORKERS": "2",
        "TELEGESTION_EXTRANET_THREADS": "4",
        "TELEGESTION_EXTRANET_SECURE_COOKIES": "false",
        **gunicorn_env,
    }
    log = (data_dir / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.conf.py")],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data_dir / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
            try:
                if httpx.get(f"{url}/sante", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield Server(url, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def http_login(http: httpx.Client, user: str, password: str) -> httpx.Response:
    """Log in as a browser would: fetch the form for its CSRF token, post it."""
    form = http.get("/connexion")
    found = TOKEN.search(form.text)
    assert found, form.text
    return http.post(
        "/connexion", data={"login": user, "password": password, "csrf_token": found.group(1)}
    )
