"""The service-done file, the pre-billing and the teletransmission agree to the minute.

The service-done file is the one the planning software receives, written by
``flows.exporter.export_service_done`` and read back as a file.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from billing_export import services
from billing_export.esppadom import read_delivery
from billing_export.settings import BillingSettings
from demo.organisation import load_demo
from flows.exporter import export_service_done
from ledger.timeutil import Month


def service_done(session: Session, year: int, month: int, data_dir: Path) -> dict[int, int]:
    """Visit id -> minutes, from the planning software's monthly file."""
    path = export_service_done(session, year, month, data_dir).path
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    minutes: dict[int, int] = defaultdict(int)
    for row in rows:
        minutes[int(row["id_visite"])] += int(row["minutes_retenues"])
    return dict(minutes)


def test_demo_month_agrees_to_the_minute(
    session: Session, settings: BillingSettings, tmp_path: Path
) -> None:
    load_demo(
        session,
        seed=11,
        workers=20,
        beneficiaries=150,
        days=31,
        now=datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
    )
    session.commit()
    done = service_done(session, 2026, 10, tmp_path / "data")
    facts, billing = services.compute(session, Month(2026, 10), settings)
    assert len(done) > 500

    # Pre-billing: every visit of the service-done file, with the same minutes, split or not.
    prebilled = {vb.visit.visit_id: sum(s.minutes for s in vb.shares) for vb in billing.visits}
    assert prebilled == done
    assert sum(line.kept_minutes for line in billing.lines) == sum(done.values())

    # Teletransmission: per funder and per visit, what the pre-billing gave that funder.
    expected: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for vb in billing.visits:
        for share in vb.shares:
            if share.plan is not None and share.plan.departement:
                expected[share.plan.funder_code][vb.visit.visit_id] += share.minutes
    issued = datetime(2026, 11, 2, 5, tzinfo=UTC)
    plan = services.plan_send(session, facts, billing)
    assert not plan.held_back and not plan.blocked
    files = services.write_files(session, plan, facts, settings, issued, tmp_path)
    assert {f.funder for f in files} == set(expected)
    kinds = {facts.funders[f.funder].effective_aid_type for f in files}
    assert kinds <= {"APA", "AM", "PCH"} and "APA" in kinds
    for written in files:
        sent: dict[int, int] = {}
        for item in read_delivery(written.path.read_bytes()):
            visit_id = int(item.document_id[1:].split("-")[0])
            # One advice per visit and funder, even for a visit split between its plans.
            assert visit_id not in sent
            sent[visit_id] = item.minutes
        assert sent == expected[written.funder]
        assert written.minutes == sum(sent.values())
    # Nothing sent for a visit outside the Département's plans, nothing sent twice.
    departement_total = sum(sum(v.values()) for v in expected.values())
    assert sum(f.minutes for f in files) == departement_total
    assert departement_total < sum(done.values())
