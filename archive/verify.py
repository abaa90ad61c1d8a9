"""``telegestion archive verify``: every file's hash, seal and timestamps, and the journal.

Each fault names what is wrong and where (statement id, beneficiary, month,
version, file path or journal position), in French for the operator.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import journal
from archive.models import ArchivedStatement, JournalEntry
from archive.settings import ArchiveSettings
from archive.signing import TrustMaterial, check_signature, load_trust
from archive.store import FileStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    #: missing_file | hash_mismatch | bad_signature | journal | record
    kind: str
    #: Where: "état 12 (bénéficiaire 7, 2026-10, v1) : var/archive/files/..." or "journal n° 5".
    where: str
    problem: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where} : {self.problem}"


@dataclass(frozen=True)
class VerifyReport:
    statements: int
    journal_entries: int
    faults: tuple[Fault, ...]

    @property
    def ok(self) -> bool:
        return not self.faults


@dataclass(frozen=True)
class _FileTask:
    statement_id: int
    label: str
    sha256: str
    path: Path


_trust: TrustMaterial | None = None
_as_of: datetime | None = None


def _init(trust: TrustMaterial, as_of: datetime | None) -> None:
    global _trust, _as_of
    _trust, _as_of = trust, as_of
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _check_file(task: _FileTask) -> list[Fault]:
    assert _trust is not None
    where = f"{task.label} : {task.path}"
    try:
        data = task.path.read_bytes()
    except FileNotFoundError:
        return [Fault("missing_file", where, "fichier absent")]
    except OSError as exc:
        return [Fault("missing_file", where, f"fichier illisible ({exc})")]
    faults = []
    actual = hashlib.sha256(data).hexdigest()
    if actual != task.sha256:
        faults.append(
            Fault(
                "hash_mismatch", where, f"empreinte {actual[:16]}… au lieu de {task.sha256[:16]}…"
            )
        )
    check = check_signature(data, _trust, _as_of)
    if not check.ok:
        faults.append(Fault("bad_signature", where, check.problem))
    return faults


def _label(statement: ArchivedStatement) -> str:
    return (
        f"état {statement.id} (bénéficiaire {statement.beneficiary_id}, "
        f"{statement.period}, v{statement.version})"
    )


def verify_archive(
    session: Session,
    settings: ArchiveSettings,
    data_dir: Path,
    *,
    as_of: datetime | None = None,
    processes: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Check every live file (hash, seal, timestamps) and the whole journal."""
    trust = load_trust(settings, data_dir)
    files = FileStore.under(data_dir)
    statements = session.scalars(select(ArchivedStatement).order_by(ArchivedStatement.id)).all()
    entries = session.scalars(select(JournalEntry).order_by(JournalEntry.seq)).all()
    faults: list[Fault] = []
    tasks = [
        _FileTask(s.id, _label(s), s.sha256, files.path_of(s.sha256))
        for s in statements
        if s.purged_at is None
    ]
    with _checks(tasks, trust, as_of, processes) as results:
        # The pool is already at work on the files while this process checks the journal.
        faults.extend(
            Fault("journal", f"journal n° {f.seq}", f.problem)
            for f in journal.check_chain(entries, trust)
        )
        faults.extend(_cross_check(statements, entries))
        for index, found in enumerate(results, start=1):
            faults.extend(found)
            if progress is not None:
                progress(index, len(tasks))
    return VerifyReport(len(statements), len(entries), tuple(faults))


@contextmanager
def _checks(
    tasks: Sequence[_FileTask], trust: TrustMaterial, as_of: datetime | None, processes: int
) -> Iterator[Iterator[list[Fault]]]:
    """The files' faults, in order; with several processes, submitted at once."""
    if processes <= 1 or len(tasks) < 8:
        _init(trust, as_of)
        yield (_check_file(task) for task in tasks)
        return
    with ProcessPoolExecutor(processes, initializer=_init, initargs=(trust, as_of)) as pool:
        yield pool.map(_check_file, tasks, chunksize=16)


def _cross_check(
    statements: Sequence[ArchivedStatement], entries: Sequence[JournalEntry]
) -> Iterator[Fault]:
    """Each statement row must match its journal entry (a row edited in place is a fault)."""
    archived = {e.statement_id: e for e in entries if e.kind == "statement.archived"}
    # A re-timestamped file replaces the previous one: the last extension names it.
    current: dict[int | None, str] = {}
    for e in entries:
        if e.kind == "statement.extended":
            current[e.statement_id] = e.payload.get("sha256", "")
    purged = {e.statement_id for e in entries if e.kind == "statement.purged"}
    by_id = {s.id: s for s in statements}
    for statement in statements:
        entry = archived.get(statement.id)
        if entry is None:
            yield Fault("record", _label(statement), "aucune entrée de journal pour cet état")
            continue
        payload = entry.payload
        recorded = (
            current.get(statement.id, payload.get("sha256")),
            payload.get("version"),
            payload.get("period"),
            payload.get("beneficiary_id"),
            payload.get("supersedes_id"),
        )
        actual = (
            statement.sha256,
            statement.version,
            statement.period,
            statement.beneficiary_id,
            statement.supersedes_id,
        )
        if recorded != actual:
            yield Fault(
                "record",
                _label(statement),
                f"la fiche ne correspond plus au journal (n° {entry.seq})",
            )
        if statement.purged_at is not None and statement.id not in purged:
            yield Fault("record", _label(statement), "marqué purgé sans entrée de purge au journal")
        if statement.supersedes_id is not None and statement.supersedes_id not in by_id:
            yield Fault("record", _label(statement), "la version remplacée a disparu")
    for statement_id in set(archived) - set(by_id):
        yield Fault("record", f"état {statement_id}", "inscrit au journal mais fiche absente")


def default_processes() -> int:
    return os.cpu_count() or 1
