"""Monthly outputs from closed months only, and again after a reopen and a new close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from flows.jobs import jobs as flows_jobs
from kernel.jobs import JobContext, JobResult, RunStatus, ScheduledJob
from kernel.monthly import pending, run_closed_months
from kernel.scheduler import run_job
from ledger import service
from ledger.models import FunderKind
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.timeutil import Month
from tests import factories
from tests.factories import SmallOrg
from tests.ledger.test_service import record

OCTOBER = Month(2026, 10)
AT = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)


def _fake(calls: list[tuple[Month, int]]) -> ScheduledJob:
    def run(ctx: JobContext) -> JobResult:
        def produce(month: Month, revision: int) -> JobResult:
            calls.append((month, revision))
            return JobResult(RunStatus.SUCCESS, {"lignes": 1}, message="fait")

        return run_closed_months(ctx, "test.monthly", "le test", produce)

    return ScheduledJob("test.monthly", "Test", {"hour": "4"}, run)


def test_nothing_before_the_close_then_each_revision_once(
    session: Session, session_factory: sessionmaker[Session], org: SmallOrg, tmp_path: Path
) -> None:
    calls: list[tuple[Month, int]] = []
    job = _fake(calls)
    asked = run_job(job, session_factory, tmp_path, params={"month": "2026-10"})
    assert asked.status is RunStatus.SUCCESS and calls == []
    assert asked.message.startswith("Mois de octobre 2026 non clôturé : rien n'est produit")
    assert run_job(job, session_factory, tmp_path).counts == {"mois": 0}

    factories.close_month(session, OCTOBER)
    factories.close_month(session, Month(2026, 9))
    first = run_job(job, session_factory, tmp_path)
    assert calls == [(Month(2026, 9), 1), (OCTOBER, 1)]  # oldest first
    assert first.counts["revision_2026-10"] == 1 and first.counts["lignes"] == 2
    run_job(job, session_factory, tmp_path)
    assert len(calls) == 2  # already produced: not again

    factories.reopen_month(session, OCTOBER)
    assert run_job(job, session_factory, tmp_path).counts == {"mois": 0}  # reopened: wait
    factories.close_month(session, OCTOBER)
    assert pending(session, "test.monthly") == [(OCTOBER, 2)]
    run_job(job, session_factory, tmp_path)
    assert calls[-1] == (OCTOBER, 2) and pending(session, "test.monthly") == []
    # By hand, a closed month is produced again for its current revision.
    run_job(job, session_factory, tmp_path, params={"month": "2026-10"})
    assert calls[-1] == (OCTOBER, 2)
    bad = run_job(job, session_factory, tmp_path, params={"month": "2026-13"})
    assert bad.status is RunStatus.FAILED and "mois invalide" in bad.message


def test_the_service_done_file_after_a_reopen_is_a_replacement_v2(
    session: Session, session_factory: sessionmaker[Session], org: SmallOrg, tmp_path: Path
) -> None:
    apa = factories.funder(session, FunderKind.APA, "APA75")
    factories.care_plan(session, org.ben_a1, apa)
    w, b = org.worker_a1.id, org.ben_a1.id
    service.record_call(
        session, record("in", AT, worker_id=w, beneficiary_id=b, direction=Direction.ARRIVAL)
    )
    done = service.record_call(
        session,
        record(
            "out",
            AT + timedelta(minutes=50),
            worker_id=w,
            beneficiary_id=b,
            direction=Direction.DEPARTURE,
        ),
    )
    session.commit()
    [job] = [j for j in flows_jobs() if j.name == "flows.monthly_export"]
    remote = tmp_path / "flows" / "remote" / "out"
    factories.close_month(session, OCTOBER)
    run_job(job, session_factory, tmp_path)
    first = (remote / "prestations_202610.csv").read_text().splitlines()
    assert first[1].split(";")[9:] == ["APA75", first[1].split(";")[10], "dans_plan", "50"]

    factories.reopen_month(session, OCTOBER)
    assert done.visit_id is not None
    visit = session.get_one(service.Visit, done.visit_id)
    service.correct_visit(
        session,
        visit,
        started_at=AT,
        ended_at=AT + timedelta(minutes=75),
        motive=Motive.TIME_ERROR,
        comment="",
        author="resp-a",
    )
    session.commit()
    factories.close_month(session, OCTOBER)
    second = run_job(job, session_factory, tmp_path)
    assert second.files == ["flows/outbox/prestations_202610_v2.csv"]
    replacement = (remote / "prestations_202610_v2.csv").read_text().splitlines()
    fields = replacement[1].split(";")
    assert fields[7] == "time_error" and fields[9] == "APA75" and fields[12] == "75"
    assert (remote / "prestations_202610.csv").read_text().splitlines() == first  # kept
