"""A month from the ledger: pre-billing, declarations, sending safely, acknowledgements."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing_export import services
from billing_export.ack import AckStatus, Rejection, ack_name, acknowledge
from billing_export.esppadom import read_delivery
from billing_export.models import OutboxFile, OutboxStatus
from billing_export.settings import BillingSettings
from kernel.jobs import JobResult, RunStatus
from kernel.transport import LocalFolderTransport, TransportError
from ledger.declarations import changes_since_last_send
from ledger.models import AuditEntry, Beneficiary, CarePlan, Declaration, Funder, Visit
from ledger.money import Category
from ledger.motives import Motive
from ledger.service import correct_visit
from ledger.timeutil import Month
from tests.billing_export.conftest import October, paris

OCTOBER = Month(2026, 10)
ISSUED = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)


class Remote(LocalFolderTransport):
    """The flows local transport, with the deposit and acknowledgement folders at hand."""

    def __init__(self, root: Path, settings: BillingSettings) -> None:
        super().__init__(root, attempts=1, backoff=0)
        self.outbox = root / settings.remote_outbox
        self.acks = root / settings.remote_acks
        self.puts: list[str] = []

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        self.puts.append(name or local.name)
        return super().put(local, folder, name)

    def deposited(self) -> list[Path]:
        return sorted(self.outbox.glob("*.xml")) if self.outbox.is_dir() else []


class FailsOnSecondPut(Remote):
    """The one fake of these tests: the connection drops during the second upload."""

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        if len(self.puts) == 1:
            self.puts.append(f"FAILED:{name or local.name}")
            raise TransportError(f"dépôt de {local.name} : connexion perdue")
        return super().put(local, folder, name)


class LosesTheAnswer(Remote):
    """The upload arrives, then the connection drops before the answer (first put only)."""

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        digest = super().put(local, folder, name)
        if len(self.puts) == 1:
            raise TransportError("connexion perdue après le dépôt")
        return digest


def outbox(tmp_path: Path, settings: BillingSettings) -> Remote:
    return Remote(tmp_path / "remote", settings)


def send(
    factory: sessionmaker[Session],
    tmp_path: Path,
    settings: BillingSettings,
    channel: Remote,
    **kwargs: Any,
) -> JobResult:
    kwargs.setdefault("issued", ISSUED)
    return services.send_month(factory, tmp_path, settings, channel, OCTOBER, **kwargs)


def by_funder(channel: Remote) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = defaultdict(list)
    for path in channel.deposited():
        files[path.name.split("-")[3]].append(path)
    return files


def ids(path: Path) -> dict[str, str]:
    """Document id -> correction code, as the Département reads the file."""
    return {i.document_id: i.adjustment for i in read_delivery(path.read_bytes())}


def test_prebilling_of_october(
    session: Session, october: October, settings: BillingSettings
) -> None:
    facts, billing = services.compute(session, OCTOBER, settings)
    org = october.org
    by_ben: dict[tuple[int, str, Category], int] = defaultdict(int)
    for line in billing.lines:
        by_ben[(line.key.beneficiary_id, line.key.funder_code, line.key.category)] += (
            line.kept_minutes
        )
    a1, a2, b1 = org.ben_a1.id, org.ben_a2.id, org.ben_b1.id
    cnav = next(p.funder_code for p in facts.plans if p.funder_kind == "CAISSE")
    assert {k: v for k, v in by_ben.items() if k[0] in (a1, a2, b1)} == {
        (a1, cnav, Category.WITHIN): 90,
        (a1, october.apa_code, Category.WITHIN): 75 + 60,
        (a2, october.apa_code, Category.WITHIN): 120,
        (a2, october.pch_code, Category.WITHIN): 30 + 60,
        (b1, october.pch_code, Category.WITHIN): 120,
    }
    codes = {vb.visit.visit_id: vb.visit.adjustment for vb in billing.visits}
    assert codes[october.corrected] == "COD"
    assert codes[october.manual] == "CRE"
    assert codes[october.dst] == ""  # clocked at both ends, untouched: no code
    assert october.deleted not in codes
    # The timestamped and the kept periods side by side: the corrected visit keeps its clock-out.
    corrected = next(vb for vb in billing.visits if vb.visit.visit_id == october.corrected)
    assert corrected.visit.clocked is not None
    assert corrected.visit.clocked.minutes == 40 and corrected.kept.minutes == 60


def test_send_writes_one_valid_file_per_departement_funder(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    result = send(session_factory, tmp_path, settings, channel)
    assert result.status is RunStatus.SUCCESS, result.message
    files = by_funder(channel)
    assert sorted(files) == sorted([october.apa_code, october.pch_code])
    minutes = {}
    for code, (path,) in files.items():
        interventions = read_delivery(path.read_bytes())  # schema-validated on the way in
        assert {i.funder_id for i in interventions} == {
            "CD75-APA" if code == october.apa_code else "CD75-PCH"
        }
        assert len({i.document_id for i in interventions}) == len(interventions)
        minutes[code] = sum(i.minutes for i in interventions)
        lonely = october.mutual_only_ref.encode()
        assert b">" + lonely + b"<" not in path.read_bytes()
    assert minutes == {october.apa_code: 75 + 60 + 120, october.pch_code: 30 + 60 + 120}
    assert result.counts["files"] == 2 and result.counts["minutes"] == 465
    assert result.counts["held_back"] == 0
    # Journalled before leaving, then marked sent; every file once.
    actions = [
        (e.action, e.details["file"])
        for e in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.like("billing.delivery.%"))
            .order_by(AuditEntry.id)
        )
    ]
    names = sorted(p.name for p in channel.deposited())
    assert [a for a, _f in actions] == ["billing.delivery.journalled"] * 2 + [
        "billing.delivery.sent"
    ] * 2
    assert sorted(f for a, f in actions if a.endswith("sent")) == names
    rows = session.scalars(select(OutboxFile)).all()
    assert {(r.name, r.status) for r in rows} == {(n, OutboxStatus.SENT) for n in names}
    assert sorted(channel.puts) == names
    # Kept locally next to the pre-billing, listed for the run journal.
    assert {p.name for p in result.files} >= set(names) | {"prebilling-2026-10.csv"}


def test_the_same_ids_in_two_sends_and_nothing_twice(
    session_factory: sessionmaker[Session],
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    first = send(session_factory, tmp_path, settings, channel)
    assert first.status is RunStatus.SUCCESS, first.message
    before = {code: ids(path) for code, (path,) in by_funder(channel).items()}

    # Nothing changed: the next send declares nothing and says so.
    quiet = send(session_factory, tmp_path, settings, channel, issued=LATER)
    assert quiet.status is RunStatus.SUCCESS and quiet.counts["files"] == 0
    assert "aucune modification" in quiet.message
    assert len(channel.deposited()) == 2

    # A re-send of the month carries every declaration again, under the same ids.
    again = send(session_factory, tmp_path, settings, channel, issued=LATER, resend=True)
    assert again.status is RunStatus.SUCCESS and again.counts["files"] == 2
    assert "Renvoi complet" in again.message
    for code, (_old, new) in by_funder(channel).items():
        assert ids(new) == before[code]


def test_a_correction_and_a_deletion_after_a_send(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    send(session_factory, tmp_path, settings, channel)
    first = {code: ids(path) for code, (path,) in by_funder(channel).items()}
    dst_id = f"V{october.dst}-{october.pch_code}-202610"
    manual_id = f"V{october.manual}-{october.pch_code}-202610"
    assert first[october.pch_code][dst_id] == "" and first[october.pch_code][manual_id] == "CRE"

    # A manager moves the DST visit's arrival; another deletes the manual visit.
    dst = session.get_one(Visit, october.dst)
    correct_visit(
        session,
        dst,
        started_at=paris(25, 1, 45),
        ended_at=dst.ended_at,
        motive=Motive.TIME_ERROR,
        comment="",
        author="manager",
    )
    manual = session.get_one(Visit, october.manual)
    correct_visit(
        session,
        manual,
        started_at=None,
        ended_at=None,
        motive=Motive.VISIT_CANCELLED,
        comment="",
        author="manager",
        delete=True,
    )
    session.commit()
    pending = changes_since_last_send(session, OCTOBER)
    assert {(c.document_id, c.kind.value) for c in pending.changes} >= {
        (dst_id, "changed"),
        (manual_id, "deleted"),
    }

    result = send(session_factory, tmp_path, settings, channel, issued=LATER)
    assert result.status is RunStatus.SUCCESS, result.message
    assert result.counts["deletions"] == 1 and result.counts["corrections"] >= 1
    (_old, new) = by_funder(channel)[october.pch_code]
    declared = ids(new)
    assert declared[dst_id] == "COA"  # the arrival is no longer the clocked one
    assert declared[manual_id] == "SUP"
    assert set(declared) <= set(first[october.pch_code])  # corrections of the same ids only
    assert len(by_funder(channel)[october.apa_code]) == 1  # nothing changed for APA
    row = session.scalars(select(Declaration).where(Declaration.document_id == manual_id)).one()
    assert row.deleted and row.revision == 2
    # And nothing more to say after that.
    assert changes_since_last_send(session, OCTOBER).changes == ()


def test_a_funder_without_its_identifier_blocks_only_its_own_file(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    pch = session.scalars(select(Funder).where(Funder.code == october.pch_code)).one()
    pch.platform_id = ""
    session.commit()
    channel = outbox(tmp_path, settings)
    result = send(session_factory, tmp_path, settings, channel)
    assert result.status is RunStatus.PARTIAL
    assert sorted(by_funder(channel)) == [october.apa_code]
    assert f"{october.pch_code} non envoyé : identifiant attribué par la plateforme" in (
        result.message
    )
    assert result.counts["blocked_funders"] == 1

    pch.platform_id = "CD75-PCH"
    session.commit()
    later = send(session_factory, tmp_path, settings, channel, issued=LATER)
    assert later.status is RunStatus.SUCCESS, later.message
    assert sorted(by_funder(channel)) == sorted([october.apa_code, october.pch_code])
    assert len(by_funder(channel)[october.apa_code]) == 1


def test_a_plan_without_reference_holds_back_only_its_lines(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    plan = session.scalars(
        select(CarePlan).where(CarePlan.beneficiary_id == october.org.ben_b1.id)
    ).one()
    plan.reference = ""
    session.commit()
    channel = outbox(tmp_path, settings)
    result = send(session_factory, tmp_path, settings, channel)
    assert result.status is RunStatus.PARTIAL
    ben_ref = october.org.ben_b1.external_id
    assert f"bénéficiaire {ben_ref} ({october.pch_code}, plan {plan.id}) : 1 interventions" in (
        result.message
    )
    # Its lines wait; the rest of the same funder's file goes.
    (pch_file,) = by_funder(channel)[october.pch_code]
    assert f"V{october.dst}-" not in pch_file.read_text()
    assert sum(i.minutes for i in read_delivery(pch_file.read_bytes())) == 30 + 60
    held = next(p for p in result.files if p.name == "retenues-2026-10.csv")
    with open(held, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert [(r["beneficiaire"], r["intervention"], r["motif"]) for r in rows] == [
        (ben_ref, str(october.dst), "plan d'aide sans référence du Département")
    ]
    # Once the reference is known, the next send declares them.
    plan.reference = "PCH-2026-0042"
    session.commit()
    later = send(session_factory, tmp_path, settings, channel, issued=LATER)
    assert later.status is RunStatus.SUCCESS and later.counts["new"] == 1
    (_first, second) = by_funder(channel)[october.pch_code]
    assert [i.order_reference for i in read_delivery(second.read_bytes())] == ["PCH-2026-0042"]


def test_an_upload_that_fails_halfway_is_completed_by_the_next_run(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    flaky = FailsOnSecondPut(tmp_path / "remote", settings)
    result = send(session_factory, tmp_path, settings, flaky)
    assert result.status is RunStatus.FAILED
    assert "partiront, tels quels, au prochain envoi" in result.message
    assert len(flaky.deposited()) == 1
    statuses = {r.name: r.status for r in session.scalars(select(OutboxFile))}
    assert sorted(statuses.values()) == [OutboxStatus.PENDING, OutboxStatus.SENT]
    pending_name = next(n for n, s in statuses.items() if s is OutboxStatus.PENDING)

    # The next run (the connection is back): the pending file leaves as it is, nothing else.
    channel = outbox(tmp_path, settings)
    again = send(session_factory, tmp_path, settings, channel, issued=LATER)
    assert again.status is RunStatus.SUCCESS, again.message
    assert channel.puts == [pending_name]
    assert again.counts["completed"] == 1 and again.counts["files"] == 0
    deposited = channel.deposited()
    assert sorted(p.name for p in deposited) == sorted(statuses)
    kept = tmp_path / "billing" / "sent" / "2026-10"
    for path in deposited:
        assert path.read_bytes() == (kept / path.name).read_bytes()
    session.expire_all()
    assert {r.status for r in session.scalars(select(OutboxFile))} == {OutboxStatus.SENT}
    # Nothing lost: every declaration of the month is in one file that left.
    minutes = sum(i.minutes for p in deposited for i in read_delivery(p.read_bytes()))
    assert minutes == 465


def test_a_file_that_arrived_before_the_connection_dropped_is_not_sent_twice(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    lossy = LosesTheAnswer(tmp_path / "remote", settings)
    result = send(session_factory, tmp_path, settings, lossy)
    assert result.status is RunStatus.FAILED
    channel = outbox(tmp_path, settings)
    again = send(session_factory, tmp_path, settings, channel, issued=LATER)
    assert again.status is RunStatus.SUCCESS, again.message
    # The first file was there already: marked sent, not uploaded again; the second uploaded.
    assert channel.puts == [
        n for n in sorted(p.name for p in channel.deposited()) if n != lossy.puts[0]
    ]
    assert len(channel.deposited()) == 2
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "billing.delivery.sent")
    ).all()
    assert sorted(e.details["already_there"] for e in audit) == [False, True]


def test_a_file_that_breaks_the_schema_is_not_sent(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    ben = session.get_one(Beneficiary, october.org.ben_b1.id)
    ben.postcode = "PARIS"
    session.commit()
    channel = outbox(tmp_path, settings)
    result = send(session_factory, tmp_path, settings, channel)
    assert result.status is RunStatus.FAILED
    assert "PostcodeCode" in result.message
    assert channel.deposited() == []
    # The other funder's file, valid, was removed too: a month is sent whole or not at all.
    assert not list((tmp_path / "billing" / "sent").glob("*/*"))
    assert session.scalars(select(OutboxFile)).all() == []
    assert session.scalars(select(Declaration)).all() == []


def test_acknowledgements_are_read_back_once(
    session_factory: sessionmaker[Session],
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    send(session_factory, tmp_path, settings, channel)
    files = by_funder(channel)
    (apa_file,), (pch_file,) = files[october.apa_code], files[october.pch_code]
    acknowledge(apa_file, channel.acks, AckStatus.ACCEPTED, datetime(2026, 11, 2, 9, tzinfo=UTC))
    document = f"V{october.dst}-{october.pch_code}-202610"
    acknowledge(
        pch_file,
        channel.acks,
        AckStatus.PARTIAL,
        datetime(2026, 11, 2, 9, 5, tzinfo=UTC),
        (Rejection(document, "PLAN_INCONNU", "Plan d'aide inconnu"),),
    )
    (channel.acks / "ESPPADOM-DELIVERY-other.ack.xml").write_bytes(b"<nope/>")

    result = services.read_acks(tmp_path, channel, settings.remote_acks)
    assert result.status is RunStatus.PARTIAL
    assert result.counts == {
        "accepted": 1,
        "partial": 1,
        "rejected": 0,
        "rejected_interventions": 1,
        "errors": 1,
    }
    assert f"intervention {october.dst} (PLAN_INCONNU : Plan d'aide inconnu)" in result.message
    assert "accepté le 02/11/2026 10:00" in result.message
    assert {p.name for p in result.files} == {ack_name(apa_file.name), ack_name(pch_file.name)}
    # Kept on the remote side, moved aside once read; the unknown one stays for a person.
    processed = sorted(p.name for p in (channel.acks / "processed").iterdir())
    assert processed == sorted([ack_name(apa_file.name), ack_name(pch_file.name)])
    assert channel.list(settings.remote_acks) == ["ESPPADOM-DELIVERY-other.ack.xml"]
    again = services.read_acks(tmp_path, channel, settings.remote_acks)
    assert again.counts["accepted"] == 0 and again.counts["partial"] == 0


def test_an_acknowledgement_of_another_content_is_refused(
    session_factory: sessionmaker[Session],
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    send(session_factory, tmp_path, settings, channel)
    sent = channel.deposited()[0]
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    acknowledge(sent, channel.acks, AckStatus.ACCEPTED, at, sha256="0" * 64)
    result = services.read_acks(tmp_path, channel, settings.remote_acks)
    assert result.counts["errors"] == 1 and result.counts["accepted"] == 0
    assert "empreinte" in result.message


def test_resend_one_funder_on_demand(
    session_factory: sessionmaker[Session],
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    send(session_factory, tmp_path, settings, channel)
    again = send(
        session_factory,
        tmp_path,
        settings,
        channel,
        only_funder=october.apa_code,
        resend=True,
        issued=LATER,
    )
    assert again.status is RunStatus.SUCCESS and again.counts["files"] == 1
    files = by_funder(channel)
    assert len(files[october.apa_code]) == 2 and len(files[october.pch_code]) == 1
    old, new = files[october.apa_code]
    assert ids(old) == ids(new)


def test_a_non_departement_funder_cannot_be_sent(
    session: Session,
    october: October,
    settings: BillingSettings,
) -> None:
    facts, _billing = services.compute(session, OCTOBER, settings)
    cnav = next(p.funder_code for p in facts.plans if p.funder_kind == "CAISSE")
    with pytest.raises(services.BillingError, match="départemental"):
        services.departement_funders(facts, cnav)
