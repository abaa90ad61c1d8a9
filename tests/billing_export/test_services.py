"""A month from the ledger: pre-billing, the DELIVERY files, sending and acknowledgements."""

from __future__ import annotations

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
from billing_export.settings import BillingSettings
from kernel.jobs import JobResult, RunStatus
from kernel.transport import LocalFolderTransport
from ledger.models import AuditEntry, Beneficiary
from ledger.money import Category
from tests.billing_export.conftest import October

ISSUED = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)


class Remote(LocalFolderTransport):
    """The flows local transport, with the deposit and acknowledgement folders at hand."""

    def __init__(self, root: Path, settings: BillingSettings) -> None:
        super().__init__(root, attempts=1, backoff=0)
        self.outbox = root / settings.remote_outbox
        self.acks = root / settings.remote_acks

    def deposited(self) -> list[Path]:
        return sorted(self.outbox.glob("*.xml")) if self.outbox.is_dir() else []


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
    return services.send_month(factory, tmp_path, settings, channel, 2026, 10, **kwargs)


def test_prebilling_of_october(
    session: Session, october: October, settings: BillingSettings
) -> None:
    facts, billing = services.compute(session, 2026, 10, settings)
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
    assert codes[october.dst] == "HOR"
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
    sent = channel.deposited()
    assert [p.name.split("-")[3] for p in sent] == sorted([october.apa_code, october.pch_code])
    minutes = {}
    for path in sent:
        interventions = read_delivery(path.read_bytes())  # schema-validated on the way in
        for item in interventions:
            assert round(item.quantity * 60) == item.kept.minutes
        minutes[path.name.split("-")[3]] = sum(i.kept.minutes for i in interventions)
        lonely = october.mutual_only_ref.encode()
        assert b">" + lonely + b"<" not in path.read_bytes()
    assert minutes == {october.apa_code: 75 + 60 + 120, october.pch_code: 30 + 60 + 120}
    assert result.counts["files"] == 2 and result.counts["minutes"] == 465
    journal = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "billing.delivery.sent")
    ).all()
    assert sorted(e.details["file"] for e in journal) == [p.name for p in sent]
    # Kept locally next to the pre-billing, listed for the run journal.
    assert {p.name for p in result.files} >= {p.name for p in sent} | {"prebilling-2026-10.csv"}


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


def test_acknowledgements_are_read_back_once(
    session_factory: sessionmaker[Session],
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    channel = outbox(tmp_path, settings)
    send(session_factory, tmp_path, settings, channel)
    apa_file, pch_file = sorted(
        channel.deposited(), key=lambda p: p.name.split("-")[3] != october.apa_code
    )
    acknowledge(apa_file, channel.acks, AckStatus.ACCEPTED, datetime(2026, 11, 2, 9, tzinfo=UTC))
    transaction = f"I20261102060000-{october.dst}-1"
    acknowledge(
        pch_file,
        channel.acks,
        AckStatus.PARTIAL,
        datetime(2026, 11, 2, 9, 5, tzinfo=UTC),
        (Rejection(transaction, "PLAN_INCONNU", "Plan d'aide inconnu"),),
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
    later = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
    again = send(
        session_factory, tmp_path, settings, channel, only_funder=october.apa_code, issued=later
    )
    assert again.status is RunStatus.SUCCESS and again.counts["files"] == 1
    names = [p.name for p in channel.deposited()]
    assert len(names) == 3
    assert sum(october.apa_code in n for n in names) == 2


def test_a_non_departement_funder_cannot_be_sent(
    session_factory: sessionmaker[Session],
    session: Session,
    october: October,
    settings: BillingSettings,
    tmp_path: Path,
) -> None:
    facts, _billing = services.compute(session, 2026, 10, settings)
    cnav = next(p.funder_code for p in facts.plans if p.funder_kind == "CAISSE")
    with pytest.raises(services.BillingError, match="départemental"):
        services.departement_funders(facts, cnav)
