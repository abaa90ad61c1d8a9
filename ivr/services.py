"""What the IVR does with the ledger: identify, check codes, record, spool, replay.

Every function here is synchronous and runs in a worker thread; each call
event is one transaction (commit at the end, roll back on any error). When
the database cannot be reached the event goes to the spool, and the replayer
loads the spool when the database is back.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ivr.sharing import Pick, pick_beneficiary
from ivr.spool import Spool
from ledger.models import CallEvent, CallOutcome, CallSource, Identification
from ledger.pairing import Direction, Inference
from ledger.phones import is_withheld
from ledger.service import (
    CallRecord,
    RecordedCall,
    beneficiary_ids_by_number,
    direction_for,
    find_worker_by_code,
    record_call,
)
from ledger.timeutil import as_utc, paris_date

logger = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The ledger could not be read or written; the caller goes on without it."""


#: What a hang-up or an ending means when the ledger was not there to say more.
class Progress:
    CONFIRMED = "confirmed"
    BEFORE_CODE = "answered"
    DURING_CODE = "code"
    NO_CODE = "no_code"


@dataclass(frozen=True, slots=True)
class RawCall:
    """A call known only from the telephone side (database down, or dialplan path)."""

    channel_id: str
    received_at: datetime
    answered_at: datetime
    caller_raw: str | None
    ani_raw: str | None
    called_number: str | None
    digits: str | None
    code_completed_at: datetime | None
    progress: str
    source: CallSource


class Ledger:
    """The IVR's gateway to the ledger, one short transaction per operation."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def _run(self, work: Any) -> Any:
        try:
            with self.session_factory() as session:
                return work(session)
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc

    def ping(self) -> bool:
        try:
            self._run(lambda s: s.execute(text("SELECT 1")))
        except DatabaseUnavailable:
            return False
        return True

    def is_recorded(self, channel_id: str) -> bool:
        def work(session: Session) -> bool:
            found = session.scalars(
                select(CallEvent.id).where(CallEvent.channel_id == channel_id)
            ).first()
            return found is not None

        result: bool = self._run(work)
        return result

    def candidates_for(self, caller: str | None, ani: str | None, at: datetime) -> tuple[int, ...]:
        """The beneficiaries the calling number belongs to (several for a couple)."""

        def work(session: Session) -> tuple[int, ...]:
            return candidate_ids(session, caller, ani, at)

        result: tuple[int, ...] = self._run(work)
        return result

    def pick(self, worker_id: int, candidates: tuple[int, ...], at: datetime) -> Pick:
        result: Pick = self._run(
            lambda session: pick_beneficiary(session, worker_id, candidates, at)
        )
        return result

    def worker_for(
        self, code: str, at: datetime, beneficiary_id: int | None = None
    ) -> KnownWorker | None:
        """The worker of a code; with the beneficiary known, the direction too, read
        in the same transaction (one trip to a worker thread less per call)."""

        def work(session: Session) -> KnownWorker | None:
            worker = find_worker_by_code(session, code, paris_date(at))
            if worker is None:
                return None
            inferred = (
                direction_for(session, worker.id, beneficiary_id, at)
                if beneficiary_id is not None
                else None
            )
            return KnownWorker(worker.id, worker.language, inferred)

        result: KnownWorker | None = self._run(work)
        return result

    def direction(self, worker_id: int, beneficiary_id: int, at: datetime) -> Inference:
        result: Inference = self._run(
            lambda session: direction_for(session, worker_id, beneficiary_id, at)
        )
        return result

    def record(self, record: CallRecord) -> RecordedCall:
        def work(session: Session) -> RecordedCall:
            try:
                recorded = record_call(session, record)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return recorded

        result: RecordedCall = self._run(work)
        return result

    def record_many(self, items: Sequence[CallRecord | RawCall]) -> list[RecordedCall]:
        """Several call events in one transaction: one commit, one fsync, for all."""

        def work(session: Session) -> list[RecordedCall]:
            try:
                out = [
                    record_call(
                        session, item if isinstance(item, CallRecord) else resolve(session, item)
                    )
                    for item in items
                ]
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return out

        result: list[RecordedCall] = self._run(work)
        return result

    def load_raw(self, raw: RawCall) -> RecordedCall:
        """Identify and record a call known only from the telephone side."""

        def work(session: Session) -> RecordedCall:
            try:
                recorded = record_call(session, resolve(session, raw))
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return recorded

        result: RecordedCall = self._run(work)
        return result


@dataclass(frozen=True, slots=True)
class KnownWorker:
    id: int
    #: The language the IVR speaks to this worker once the code is recognised.
    language: str
    #: The direction the ledger infers, when the beneficiary was known at the lookup.
    inferred: Inference | None = None


def candidate_ids(
    session: Session, caller: str | None, ani: str | None, at: datetime
) -> tuple[int, ...]:
    """Beneficiaries of the caller number, else of the ANI; empty when neither is known."""
    on = paris_date(at)
    for number in (caller, ani):
        if is_withheld(number):
            continue
        found = beneficiary_ids_by_number(session, number, on)
        if found:
            return tuple(found)
    return ()


def candidates_text(candidates: tuple[int, ...], beneficiary_id: int | None) -> str | None:
    """What the call event keeps for the manager: the candidates nothing decided on."""
    if beneficiary_id is not None or len(candidates) < 2:
        return None
    return ",".join(str(c) for c in candidates)


def resolve(session: Session, raw: RawCall) -> CallRecord:
    """The CallRecord the live flow would have made, from what the telephone side kept.

    A shared number is decided by the worker's plan only: nobody is there to key a choice.
    """
    candidates = candidate_ids(session, raw.caller_raw, raw.ani_raw, raw.answered_at)
    code = raw.digits.split(",")[-1] if raw.digits else ""
    worker = find_worker_by_code(session, code, paris_date(raw.answered_at)) if code else None
    worker_id = worker.id if worker is not None else None
    beneficiary_id = candidates[0] if len(candidates) == 1 else None
    if len(candidates) > 1 and worker_id is not None:
        beneficiary_id = pick_beneficiary(
            session, worker_id, candidates, raw.answered_at
        ).beneficiary_id
    direction: Direction | None = None
    if worker_id is not None and beneficiary_id is not None:
        inferred = direction_for(session, worker_id, beneficiary_id, as_utc(raw.answered_at))
        direction = None if inferred is Inference.ASK else Direction(inferred.value)
    if raw.progress == Progress.CONFIRMED:
        outcome = CallOutcome.RECORDED
    elif raw.progress == Progress.NO_CODE:
        outcome = CallOutcome.TOO_MANY_ATTEMPTS
    elif raw.digits:
        outcome = CallOutcome.HANGUP_DURING_CODE
    else:
        outcome = CallOutcome.HANGUP_BEFORE_CODE
    return CallRecord(
        channel_id=raw.channel_id,
        received_at=raw.received_at,
        answered_at=raw.answered_at,
        caller_raw=raw.caller_raw,
        ani_raw=raw.ani_raw,
        called_number=raw.called_number,
        digits=raw.digits or None,
        code_completed_at=raw.code_completed_at,
        beneficiary_id=beneficiary_id,
        worker_id=worker_id,
        identification=identification(raw.caller_raw, beneficiary_id, raw.digits, worker_id),
        direction=direction,
        outcome=outcome,
        source=raw.source,
        candidate_ids=candidates_text(candidates, beneficiary_id),
    )


def identification(
    caller: str | None, beneficiary_id: int | None, digits: str | None, worker_id: int | None
) -> Identification:
    if beneficiary_id is None:
        return (
            Identification.WITHHELD_NUMBER if is_withheld(caller) else Identification.UNKNOWN_NUMBER
        )
    if worker_id is None:
        return Identification.UNKNOWN_WORKER if digits else Identification.NO_CODE
    return Identification.OK


# --- spool lines -------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def spool_line(item: CallRecord | RawCall) -> str:
    kind = "record" if isinstance(item, CallRecord) else "raw"
    fields = {key: _encode(value) for key, value in asdict(item).items()}
    return json.dumps({"v": 1, "kind": kind, "call": fields}, ensure_ascii=False)


def _time(value: Any) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value))


def parse_spool_line(line: str) -> CallRecord | RawCall:
    data = json.loads(line)
    call = dict(data["call"])
    for key in ("received_at", "answered_at", "code_completed_at"):
        call[key] = _time(call.get(key))
    call["source"] = CallSource(call["source"])
    if data["kind"] == "raw":
        return RawCall(**call)
    call["identification"] = Identification(call["identification"])
    call["outcome"] = CallOutcome(call["outcome"])
    call["direction"] = Direction(call["direction"]) if call.get("direction") else None
    return CallRecord(**call)


def parse_dialplan_line(line: str) -> RawCall:
    """Parse ``v1|uniqueid|received|answered|code_at|caller|ani|dnid|digits|state``.

    The line is written by the dialplan's degraded path (asterisk/etc/extensions.conf).
    """
    parts = line.split("|")
    if len(parts) != 10 or parts[0] != "v1":
        raise ValueError("not a v1 dialplan spool line")
    _, uniqueid, received, answered, code_at, caller, ani, dnid, digits, state = parts
    if not uniqueid or not answered:
        raise ValueError("no unique id or answer time")

    def epoch(text: str) -> datetime | None:
        return datetime.fromtimestamp(float(text), tz=UTC) if text else None

    answered_at = epoch(answered)
    assert answered_at is not None
    progress = {
        "confirmed": Progress.CONFIRMED,
        "no_code": Progress.NO_CODE,
        "code": Progress.DURING_CODE,
    }.get(state, Progress.BEFORE_CODE)
    return RawCall(
        channel_id=uniqueid,
        received_at=epoch(received) or answered_at,
        answered_at=answered_at,
        caller_raw=caller or None,
        ani_raw=ani or None,
        called_number=dnid or None,
        digits=digits or None,
        code_completed_at=epoch(code_at) if digits else None,
        progress=progress,
        source=CallSource.DIALPLAN_SPOOL,
    )


class Recorder:
    """Commit a call event, or spool it durably when the ledger is unreachable."""

    def __init__(self, ledger: Ledger, spool: Spool) -> None:
        self.ledger = ledger
        self.spool = spool

    def record(self, item: CallRecord | RawCall) -> RecordedCall | None:
        """Returns None when the event went to the spool (it is safe either way)."""
        try:
            if isinstance(item, CallRecord):
                return self.ledger.record(item)
            return self.ledger.load_raw(item)
        except DatabaseUnavailable as exc:
            logger.warning("ledger unavailable (%s): call %s spooled", exc, item.channel_id)
            self.spool.append(spool_line(replace(item, source=CallSource.ARI_SPOOL)))
            return None

    def record_batch(self, items: Sequence[CallRecord | RawCall]) -> list[Outcome]:
        """Commit several events at once; on any failure, each on its own as ``record``.

        The shared transaction only saves fsyncs: when it fails (the database is
        down, or one event is refused) nothing of it was committed, and every
        event is then recorded or spooled alone, as if it had come by itself.
        """
        if len(items) > 1:
            try:
                return list(self.ledger.record_many(items))
            except Exception as exc:
                logger.info("group commit of %d calls failed (%s); one by one", len(items), exc)
        out: list[Outcome] = []
        for item in items:
            try:
                out.append(self.record(item))
            except Exception as exc:
                out.append(exc)
        return out


#: What the committer hands back for one event: recorded, spooled (None), or the error.
Outcome = RecordedCall | None | Exception


class CommitFuture(Future[Outcome]):
    """An event's commit, with when the committer took it and when its commit
    returned (wall clock, for the metrics): a slow commit is then told apart as
    waiting for the committer, the write itself, or the event loop's wake-up."""

    taken_at: float | None = None
    written_at: float | None = None


class GroupCommitter:
    """One thread that commits call events; events that arrive while a commit runs
    share the next one (group commit).

    With SQLite every commit is an fsync and takes the one write lock: calls
    committing each in its own thread queued on that lock (whose busy handler
    sleeps) and on the disk. Here one thread writes, and under load a commit
    carries every event waiting, so the time to durability stays one or two
    commits long. A caller still hears the confirmation only once its own
    event is committed (or spooled): ``submit`` returns a future resolved
    after the commit.
    """

    def __init__(self, recorder: Recorder, *, max_batch: int = 64) -> None:
        self.recorder = recorder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[CallRecord | RawCall, CommitFuture] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="ivr-commit", daemon=True)
        self._thread.start()
        #: Sizes of the commits made, for the benchmark and the tests.
        self.batches: deque[int] = deque(maxlen=1024)

    def submit(self, item: CallRecord | RawCall) -> CommitFuture:
        future = CommitFuture()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self.batches.append(len(batch))
            taken = time.time()
            try:
                results = self.recorder.record_batch([item for item, _ in batch])
            except BaseException as exc:  # never leave a caller waiting
                results = [exc if isinstance(exc, Exception) else RuntimeError(exc)] * len(batch)
            written = time.time()
            for (_, future), result in zip(batch, results, strict=True):
                future.taken_at, future.written_at = taken, written
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            if stop:
                return


def replay(ledger: Ledger, spool: Spool, *, dialplan: bool) -> int:
    """Load every pending line of a spool; stop at the first database failure.

    Returns how many lines were loaded. A line that cannot be parsed is set
    aside in ``<spool>.rejected`` with the reason, never dropped silently.
    """
    loaded = 0
    for offset, line in spool.pending():
        if not line.strip():
            spool.mark(offset)
            continue
        try:
            item: CallRecord | RawCall = (
                parse_dialplan_line(line) if dialplan else parse_spool_line(line)
            )
        except (ValueError, KeyError, TypeError) as exc:
            spool.reject(line, f"unreadable: {exc}")
            spool.mark(offset)
            continue
        try:
            if isinstance(item, CallRecord):
                ledger.record(item)
            else:
                ledger.load_raw(item)
        except DatabaseUnavailable as exc:
            logger.info("replay of %s paused: %s", spool.path.name, exc)
            return loaded
        spool.mark(offset)
        loaded += 1
    if loaded:
        logger.info("replayed %d call(s) from %s", loaded, spool.path.name)
    return loaded
