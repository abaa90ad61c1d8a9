"""The monthly run: build, seal and store every statement of a month on all cores.

The parent process loads the month from the ledger, hands plain
``StatementInput`` values to a process pool (one ``Sealer`` per worker, built
once by the pool's initialiser), and records the results serially, because
the journal is one hash chain. Workers write the signed files themselves
(content-addressed, so a retried task rewrites nothing) without syncing them;
the parent syncs each batch of files before it records their rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from archive import journal, store
from archive.figures import Organisation, StatementFigures, StatementInput, compute_figures
from archive.loader import load_inputs
from archive.pki import ensure_fresh_crl, pki_paths
from archive.settings import ArchiveSettings
from archive.signing import Sealer, check_signature
from archive.statement import StatementError, render_pdf, to_pdfa
from kernel.settings import CoreSettings
from ledger.timeutil import utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    data: StatementInput
    #: Figures digest of the latest archived version, if any.
    previous_digest: str | None
    previous_version: int


@dataclass(frozen=True)
class Outcome:
    beneficiary_id: int
    antenna_id: int
    figures_digest: str
    #: None when the figures equal the archived version's (nothing signed).
    sha256: str | None
    size: int
    signed_at: datetime | None


@dataclass(frozen=True)
class RunSummary:
    year: int
    month: int
    statements: int
    signed: int
    unchanged: int
    new_versions: int
    seconds: float


def figures_digest(figures: StatementFigures) -> str:
    """A digest of everything the statement shows (frozen dataclasses have a stable repr)."""
    return hashlib.sha256(repr(figures).encode()).hexdigest()


class Worker:
    """Builds and seals statements in one process (its ``Sealer`` is reused)."""

    def __init__(self, settings: ArchiveSettings, data_dir: Path) -> None:
        self.sealer = Sealer(settings, data_dir)
        self.files = store.FileStore.under(data_dir)
        self.check_every = settings.pdfa_check_every
        self.built = 0

    def run(self, task: Task) -> Outcome:
        data = task.data
        figures = compute_figures(data)
        digest = figures_digest(figures)
        ben = data.beneficiary
        if digest == task.previous_digest:
            return Outcome(ben.beneficiary_id, ben.antenna_id, digest, None, 0, None)
        version = task.previous_version + 1
        validate = self.built % self.check_every == 0
        self.built += 1
        pdf = to_pdfa(render_pdf(data, figures, version=version), validate=validate)
        signed = self.sealer.seal(pdf)
        if self.built == 1:
            # The first seal of each process is validated in full before any is stored.
            check = check_signature(signed, self.sealer.trust)
            if not check.ok:
                raise StatementError(f"le premier état signé ne se valide pas : {check.problem}")
        signed_at = utc_now()
        # Not synced here: the parent syncs each batch before recording it.
        sha = self.files.put(signed, durable=False)
        return Outcome(ben.beneficiary_id, ben.antenna_id, digest, sha, len(signed), signed_at)


_worker: Worker | None = None


def _init_worker(settings: ArchiveSettings, data_dir: Path) -> None:
    global _worker
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    _worker = Worker(settings, data_dir)


def _run_task(task: Task) -> Outcome:
    assert _worker is not None
    return _worker.run(task)


def organisation(core: CoreSettings, settings: ArchiveSettings) -> Organisation:
    return Organisation(
        name=core.organisation_name,
        address=settings.organisation_address,
        siret=settings.organisation_siret,
        phone=settings.organisation_phone,
    )


def process_count(settings: ArchiveSettings) -> int:
    return settings.processes or os.cpu_count() or 1


def _outcomes(
    tasks: Sequence[Task], settings: ArchiveSettings, data_dir: Path, processes: int
) -> Iterator[Outcome]:
    if processes <= 1:
        _init_worker(settings, data_dir)
        for task in tasks:
            yield _run_task(task)
        return
    with ProcessPoolExecutor(
        max_workers=processes, initializer=_init_worker, initargs=(settings, data_dir)
    ) as pool:
        chunk = max(1, min(16, len(tasks) // (processes * 8) or 1))
        yield from pool.map(_run_task, tasks, chunksize=chunk)


def run_month(
    session_factory: sessionmaker[Session],
    core: CoreSettings,
    settings: ArchiveSettings,
    year: int,
    month: int,
    *,
    triggered_by: str,
    beneficiary_ids: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    processes: int | None = None,
) -> RunSummary:
    """Archive every statement of the month whose figures changed (or are new)."""
    started = utc_now()
    org = organisation(core, settings)
    with session_factory() as session:
        inputs = load_inputs(session, org, year, month, beneficiary_ids)
        latest = {
            ben_id: (row.id, row.version, row.figures_digest)
            for ben_id, row in store.latest_versions(session, year, month).items()
        }
        tasks = []
        for data in inputs:
            previous = latest.get(data.beneficiary.beneficiary_id)
            tasks.append(
                Task(data, previous[2] if previous else None, previous[1] if previous else 0)
            )
    paths = pki_paths(core.data_dir)
    if not settings.pkcs12_path and paths.ca_key.exists():
        ensure_fresh_crl(paths)  # once here, so that the workers find it fresh
    count = processes if processes is not None else process_count(settings)
    signed = unchanged = new_versions = 0
    done = 0
    batch: list[Outcome] = []

    files = store.FileStore.under(core.data_dir)

    def flush(session: Session) -> None:
        nonlocal signed, new_versions
        # The batch's files reach the disk before any row points to them.
        files.sync(o.sha256 for o in batch if o.sha256 is not None)
        for outcome in batch:
            assert outcome.sha256 is not None and outcome.signed_at is not None
            previous = latest.get(outcome.beneficiary_id)
            row = store.record(
                session,
                beneficiary_id=outcome.beneficiary_id,
                antenna_id=outcome.antenna_id,
                year=year,
                month=month,
                sha256=outcome.sha256,
                size=outcome.size,
                figures_digest=outcome.figures_digest,
                signed_at=outcome.signed_at,
                triggered_by=triggered_by,
                previous=previous[:2] if previous else None,
            )
            latest[outcome.beneficiary_id] = (row.id, row.version, row.figures_digest)
            signed += 1
            new_versions += previous is not None
        batch.clear()
        session.commit()

    with session_factory() as session:
        sealer_for_seals: Sealer | None = None
        for outcome in _outcomes(tasks, settings, core.data_dir, count):
            done += 1
            if outcome.sha256 is None:
                unchanged += 1
            else:
                batch.append(outcome)
            if len(batch) >= 200:
                flush(session)
                if journal.entries_since_seal(session) >= settings.seal_every:
                    sealer_for_seals = sealer_for_seals or Sealer(settings, core.data_dir)
                    journal.seal(session, sealer_for_seals.timestamper)
                    session.commit()
            if progress is not None:
                progress(done, len(tasks))
        flush(session)
        if signed:
            sealer_for_seals = sealer_for_seals or Sealer(settings, core.data_dir)
            journal.seal(session, sealer_for_seals.timestamper)
            session.commit()
    seconds = (utc_now() - started).total_seconds()
    summary = RunSummary(year, month, len(tasks), signed, unchanged, new_versions, seconds)
    logger.info("archive run %s", asdict(summary))
    return summary
