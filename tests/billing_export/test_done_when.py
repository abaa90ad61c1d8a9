"""Issue 13's "done when", point by point, on a demo month sent to a real OpenSSH server.

No HOR anywhere; a correction code only on the visits corrected, entered by
hand or not fully clocked; the same document ids in two sends; a visit
deleted after a send is SUP in the next file; a funder without its platform
identifier blocks only its own file, with the reason in the run journal; a
plan without reference holds back only its lines; received invoices are
listed per antenna; an upload that fails halfway is completed by the next
run with nothing lost or sent twice.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export import services
from billing_export.esppadom import ReadIntervention, read_delivery
from billing_export.invoices import read_invoices
from billing_export.settings import BillingSettings
from demo.organisation import load_demo
from extranet.models import Role
from kernel.jobs import RunStatus
from kernel.transport import SftpTransport, TransportError
from ledger.models import Antenna, CarePlan, Funder, Visit, VisitStatus, Worker
from ledger.motives import Motive
from ledger.service import correct_visit, enter_manual_visit
from ledger.timeutil import Month, paris_to_utc
from tests.extranet.conftest import add_user, login, make_app
from tests.flows.conftest import SshServer

pytestmark = pytest.mark.sftp

OCTOBER = Month(2026, 10)


class DropsOnSecondPut:
    """The real SFTP transport, except that the connection drops on the second upload."""

    def __init__(self, inner: SftpTransport) -> None:
        self.inner = inner
        self.puts = 0

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        self.puts += 1
        if self.puts == 2:
            raise TransportError(f"dépôt SFTP de {local.name} : connexion perdue")
        return self.inner.put(local, folder, name)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def documents(deposit: Path) -> dict[str, list[ReadIntervention]]:
    return {p.name: read_delivery(p.read_bytes()) for p in sorted(deposit.glob("*.xml"))}


def pdf(text: str) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def test_done_when_on_the_demo_month(
    session: Session,
    session_factory: sessionmaker[Session],
    sshd: SshServer,
    sftp_root: Path,
    tmp_path: Path,
) -> None:
    load_demo(
        session,
        seed=7,
        workers=15,
        beneficiaries=120,
        days=31,
        now=datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
    )
    session.commit()
    settings = BillingSettings(provider_id="750012345", provider_siret="12345678900011")
    data_dir = tmp_path / "data"

    def send(channel: object, **kw: object) -> services.JobResult:
        return services.send_month(
            session_factory,
            data_dir,
            settings,
            channel,
            OCTOBER,
            **kw,  # type: ignore[arg-type]
        )

    facts, billing = services.compute(session, OCTOBER, settings)
    shares = Counter(
        s.plan.funder_code for vb in billing.visits for s in vb.shares if s.plan is not None
    )
    # A manager completes a departure (COD) and enters a visit by hand (CRE).
    apa_visits = [
        vb.visit
        for vb in billing.visits
        if {s.plan.funder_code for s in vb.shares if s.plan} == {"APA75"}
    ]
    corrected = session.get_one(Visit, apa_visits[0].visit_id)
    assert corrected.ended_at is not None
    correct_visit(
        session,
        corrected,
        started_at=corrected.started_at,
        ended_at=corrected.ended_at + timedelta(minutes=10),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="resp",
    )
    by_hand_for = session.get_one(Visit, apa_visits[1].visit_id)
    manual = enter_manual_visit(
        session,
        worker=session.get_one(Worker, by_hand_for.worker_id),
        beneficiary=by_hand_for.beneficiary,
        started_at=paris_to_utc(datetime(2026, 10, 30, 6, 0)),
        ended_at=paris_to_utc(datetime(2026, 10, 30, 6, 45)),
        motive=Motive.PHONE_OUT_OF_ORDER,
        comment="",
        author="resp",
    )
    # PCH75 has no platform identifier yet; one APA plan has no Département reference.
    assert shares["PCH75"] > 0
    pch = session.scalars(select(Funder).where(Funder.code == "PCH75")).one()
    pch.platform_id = ""
    no_ref = session.get_one(
        CarePlan,
        next(
            p.plan_id
            for p in facts.plans
            if p.funder_code == "APA75" and p.beneficiary_id == apa_visits[-1].beneficiary_id
        ),
    )
    no_ref.reference = ""
    session.commit()

    deposit = sftp_root / settings.remote_outbox
    # The first send: the connection drops on the second upload.
    with sshd.transport() as real:
        flaky = DropsOnSecondPut(real)
        first = send(flaky, issued=datetime(2026, 11, 2, 5, tzinfo=UTC))
    assert first.status is RunStatus.FAILED
    assert len(list(deposit.glob("*.xml"))) == 1
    written = first.counts["files"]
    assert written >= 2
    # The reasons are in the run journal's message; the blocked funder has no file.
    assert "PCH75 non envoyé : identifiant attribué par la plateforme du Département manquant" in (
        first.message
    )
    assert "plan d'aide sans référence du Département" in first.message
    assert first.counts["held_back"] > 0

    # The next run completes it, nothing lost, nothing twice.
    with sshd.transport() as channel:
        second = send(channel, issued=datetime(2026, 11, 2, 6, tzinfo=UTC))
    assert second.status is RunStatus.PARTIAL, second.message
    assert second.counts["completed"] == written - 1 and second.counts["files"] == 0
    sent = documents(deposit)
    assert len(sent) == written and not any("-PCH75-" in name for name in sent)
    advices = [a for items in sent.values() for a in items]
    ids = [a.document_id for a in advices]
    assert len(ids) == len(set(ids))  # one advice per visit and funder, each once

    # No HOR; a code only on what was corrected, entered by hand or not fully clocked.
    assert all(a.adjustment != "HOR" for a in advices)
    coded = {a.document_id: a.adjustment for a in advices if a.adjustment}
    assert coded == {f"V{corrected.id}-APA75-202610": "COD", f"V{manual.id}-APA75-202610": "CRE"}
    for a in advices:
        assert (a.adjustment == "") == (
            a.clocked_start is not None and a.clocked_end is not None
        ) or (a.document_id == f"V{corrected.id}-APA75-202610")
    # The plan without reference: only its lines wait.
    assert all(a.order_reference for a in advices)
    held_visits = {
        v.id
        for v in session.scalars(select(Visit).where(Visit.beneficiary_id == no_ref.beneficiary_id))
    }
    assert not {int(i[1:].split("-")[0]) for i in ids} & held_visits

    # A re-send carries the same ids.
    with sshd.transport() as channel:
        again = send(channel, resend=True, issued=datetime(2026, 11, 3, 5, tzinfo=UTC))
    assert again.status is RunStatus.PARTIAL
    resent = {n: items for n, items in documents(deposit).items() if n not in sent}
    assert sorted(a.document_id for items in resent.values() for a in items) == sorted(ids)

    # A visit deleted after the send is SUP in the next file, under its id.
    gone = session.get_one(Visit, apa_visits[2].visit_id)
    correct_visit(
        session,
        gone,
        started_at=None,
        ended_at=None,
        motive=Motive.DUPLICATE_CALL,
        comment="",
        author="resp",
        delete=True,
    )
    session.commit()
    assert session.get_one(Visit, gone.id).status is VisitStatus.DELETED
    before = set(documents(deposit))
    with sshd.transport() as channel:
        after = send(channel, issued=datetime(2026, 11, 4, 5, tzinfo=UTC))
    (newest,) = [items for n, items in documents(deposit).items() if n not in before]
    codes = {a.document_id: a.adjustment for a in newest}
    assert codes[f"V{gone.id}-APA75-202610"] == "SUP"
    assert after.counts["deletions"] == 1

    # Invoices come back and are listed per antenna.
    folder = sftp_root / settings.remote_invoices
    folder.mkdir(parents=True)
    nord = session.scalars(select(Antenna).where(Antenna.code == "NORD")).one()
    area = nord.areas.split(",")[0]
    (folder / f"FACTURE-APA-{area}-202610.pdf").write_bytes(pdf(f"APA {area}"))
    (folder / "FACTURE-APA-75013-202610.pdf").write_bytes(pdf("APA 75013"))
    with sshd.transport() as channel:
        received = read_invoices(session_factory, data_dir, channel, replace(settings))
    assert received.counts["received"] == 2
    add_user(session, "resp-nord", Role.ANTENNA_MANAGER, nord.id)
    session.commit()
    client = make_app(session_factory, data_dir).test_client()
    assert login(client, "resp-nord") == 302
    page = client.get("/factures-departement").get_data(as_text=True)
    assert f"FACTURE-APA-{area}-202610.pdf" in page and "FACTURE-APA-75013-202610.pdf" not in page
