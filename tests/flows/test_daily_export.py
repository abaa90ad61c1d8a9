"""The daily export job: each file carries what changed for earlier days since the last one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.jobs import UNTIL_KEY, jobs
from kernel.jobs import RunStatus
from kernel.scheduler import run_job
from ledger import service
from ledger.models import Visit, VisitStatus
from ledger.motives import Motive
from tests.flows.files import world
from tests.flows.scenario import at, load_people, october_day


def _lines(data_dir: Path, day: str) -> list[list[str]]:
    text = (data_dir / "flows" / "remote" / "out" / f"horodatages_{day}.csv").read_text()
    return [line.split(";") for line in text.splitlines()[1:]]


def test_a_correction_for_yesterday_goes_in_todays_file_once(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    world(session)
    load_people(session_factory, data_dir)
    october_day(session)
    [job] = [j for j in jobs() if j.name == "flows.daily_export"]
    first = run_job(job, session_factory, data_dir, params={"date": "2026-10-25"})
    assert first.status is RunStatus.SUCCESS and UNTIL_KEY in first.counts
    assert {row[-1] for row in _lines(data_dir, "20261025")} == {"jour"}

    incomplete = session.scalars(select(Visit).where(Visit.status == VisitStatus.INCOMPLETE)).one()
    service.correct_visit(
        session,
        incomplete,
        started_at=at(16, 0),
        ended_at=at(17, 0),
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="manager.nord",
    )
    session.commit()
    second = run_job(job, session_factory, data_dir, params={"date": "2026-10-26"})
    late = {int(r[0]): r for r in _lines(data_dir, "20261026") if r[-1] != "jour"}
    assert late[incomplete.id][5] == "corrected" and late[incomplete.id][-1] == "correction"
    assert late[incomplete.id][12] == "2"  # its new version
    # The other late lines are repeats, within the ten-minute margin, of what the 25th's
    # file already said (the scenario was written just before it): same version, same state.
    sent = {int(r[0]): r for r in _lines(data_dir, "20261025")}
    for visit_id, row in late.items():
        if visit_id != incomplete.id:
            assert row[:-1] == sent[visit_id][:-1]
    assert second.counts["modifications_tardives"] == len(late)
    assert f"{len(late)} modification(s) tardive(s)" in second.message
