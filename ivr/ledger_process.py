"""The IVR's ledger work (its reads and its group commit) in a process of its own.

Setting ``ledger_process``, off by default (decision 0105). At 20 and 40
calls/s (``bench/ivr/breakdown.py``) the slow commits were slow in every part
at once, the code's lookup, the write and the wake-up of the call's task. One
cause that fitted: the reader threads, the commit thread and the event loop
taking turns at one GIL (a read or a commit is a few dozen SQLite calls, each
releasing the GIL and asking it back behind the loop). Here the loop only
sends a request down a pipe and reads the answer; the reads (in the child's
main thread, as they come) and the commits (its ``GroupCommitter`` thread)
run in a child process whose GIL is theirs alone. On the shared two-core
bench machine it did not shorten the tail (the other cause, every thread
waiting for a CPU, was the one; the pipe adds hand-offs), hence off; it is
kept to be measured where the IVR has a machine of its own.

What a call relies on stays true:

- a commit's answer comes once the event is committed (the child's
  ``GroupCommitter``), or spooled by the child when the database refuses it
  (the child's ``Recorder``, same spool file, appended with ``O_APPEND`` in
  one ``write`` so that lines of the two processes never mix);
- if the child dies, every request it had not answered is answered here:
  an event is spooled by this process (replayed later, idempotent on the
  channel id should the child have committed it just before dying), a read
  fails as ``DatabaseUnavailable`` so that the call goes on offline; the
  child is then started again.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivr.services import (
    CommitFuture,
    DatabaseUnavailable,
    GroupCommitter,
    Ledger,
    RawCall,
    Recorder,
    spool_line,
)
from ivr.spool import Spool
from ledger.db import make_engine, make_session_factory
from ledger.models import CallSource
from ledger.service import CallRecord

logger = logging.getLogger(__name__)

#: The ``Ledger`` reads a call may ask for; anything else is refused.
READS = frozenset({"candidates_for", "worker_for", "pick", "direction", "is_recorded", "ping"})
#: The request that commits one call event.
RECORD = "record"
#: How long to wait before starting a child again after it died.
RESTART_DELAY = 0.5


class LedgerProcess:
    """Requests to the child from any thread; answers as futures, resolved by a
    receiver thread (which holds the GIL only to unpickle an answer)."""

    def __init__(self, database_url: str, spool: Spool, *, max_batch: int = 64) -> None:
        self.database_url = database_url
        self.spool = spool
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[str, tuple[Any, ...], CommitFuture]] = {}
        self._numbers = itertools.count()
        self._closed = False
        #: The child died and the next is not started yet.
        self._down = False
        #: How many times a child was started (1 + restarts), for the tests.
        self.starts = 0
        self._conn, self.process = self._start()
        self._receiver = threading.Thread(target=self._receive, name="ivr-ledger-rx", daemon=True)
        self._receiver.start()

    def _start(self) -> tuple[Connection, subprocess.Popen[bytes]]:
        # A fresh interpreter running this module, not a fork (the parent runs
        # threads and an event loop, which a fork would copy in whatever state they
        # were) nor multiprocessing's spawn, which imports the parent's main module
        # again (the whole command line, seconds on a busy machine: calls taken
        # back after a restart waited for it). The pipe's end is inherited; the
        # database URL, which may hold a password, comes down the pipe.
        parent, child = multiprocessing.Pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr.ledger_process", str(child.fileno())],
            pass_fds=(child.fileno(),),
        )
        child.close()
        parent.send((self.database_url, str(self.spool.path), self.max_batch))
        self.starts += 1
        return parent, process

    def ready(self) -> CommitFuture:
        """Answered once the child reads requests (the IVR waits for it before
        taking calls): True when the database answers too."""
        return self.call("ping")

    def call(self, name: str, *args: Any) -> CommitFuture:
        """Send one request; the future holds its answer (``record``: the outcome)."""
        if name != RECORD and name not in READS:
            raise ValueError(f"not a ledger request: {name}")
        future = CommitFuture()
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger process is closed")
            down = self._down
            if not down:
                number = next(self._numbers)
                self._pending[number] = (name, args, future)
                try:
                    self._conn.send((number, name, args))
                except OSError:
                    # The child is gone: the receiver sees it and answers what is pending.
                    pass
                except Exception as exc:  # a request that cannot be sent is answered now
                    del self._pending[number]
                    future.set_exception(exc)
        if down:
            # Between a child's death and the next one (half a second): spooled or
            # unavailable at once, as when the database is down.
            self._answer_orphan(name, args, future)
        return future

    def submit(self, item: CallRecord | RawCall) -> CommitFuture:
        """Commit one call event (the ``GroupCommitter`` interface)."""
        return self.call(RECORD, item)

    def close(self) -> None:
        """Let the child commit and answer what it holds, then stop it."""
        with self._lock:
            self._closed = True
            with contextlib.suppress(OSError):
                self._conn.send(None)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._receiver.join(30)

    def _receive(self) -> None:
        while True:
            conn = self._conn
            while True:
                try:
                    number, ok, value, taken, written = conn.recv()
                except (EOFError, OSError):
                    break
                with self._lock:
                    entry = self._pending.pop(number, None)
                if entry is None:
                    continue
                future = entry[2]
                future.taken_at, future.written_at = taken, written
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            with self._lock:
                # From here until a new child runs, ``call`` answers by itself.
                self._down = True
                orphans = list(self._pending.values())
                self._pending.clear()
                closed = self._closed
            if orphans or not closed:
                logger.warning(
                    "ledger process ended (exit %s) with %d request(s) unanswered",
                    self.process.returncode,
                    len(orphans),
                )
            for name, args, future in orphans:
                self._answer_orphan(name, args, future)
            conn.close()
            if closed:
                return
            # Not at once: a child that cannot start must not be started in a loop.
            time.sleep(RESTART_DELAY)
            with self._lock:
                if self._closed:
                    return
                self._conn, self.process = self._start()
                self._down = False

    def _answer_orphan(self, name: str, args: tuple[Any, ...], future: Future[Any]) -> None:
        if name != RECORD:
            future.set_exception(DatabaseUnavailable("the ledger process stopped"))
            return
        item: CallRecord | RawCall = args[0]
        try:
            self.spool.append(spool_line(replace(item, source=CallSource.ARI_SPOOL)))
        except Exception as exc:
            future.set_exception(exc)
            return
        logger.warning("call %s spooled (ledger process stopped)", item.channel_id)
        future.set_result(None)


def _portable(exc: BaseException) -> Exception:
    """An error the parent can unpickle: ``DatabaseUnavailable`` as it is (the
    flow reads it), anything else as a plain ``RuntimeError`` with its text
    (SQLAlchemy's errors do not all survive pickling)."""
    if isinstance(exc, DatabaseUnavailable):
        return DatabaseUnavailable(str(exc))
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def main(argv: list[str]) -> None:
    """The child's entry point: the inherited pipe's descriptor, then the
    database URL, the spool's path and the batch size from the pipe."""
    conn = Connection(int(argv[0]))
    try:
        database_url, spool_path, max_batch = conn.recv()
    except (EOFError, OSError):
        return
    serve(database_url, spool_path, conn, max_batch)


def serve(database_url: str, spool_path: str, conn: Connection, max_batch: int = 64) -> None:
    """The child: read requests until the parent closes the pipe or sends None."""
    # Ctrl-C and the supervisor's signals go to the parent, which closes us in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    engine = make_engine(database_url)
    ledger = Ledger(make_session_factory(engine))
    committer = GroupCommitter(Recorder(ledger, Spool(Path(spool_path))), max_batch=max_batch)
    send_lock = threading.Lock()

    def answer(number: int, future: Future[Any]) -> None:
        exc = future.exception()
        taken = getattr(future, "taken_at", None)
        written = getattr(future, "written_at", None)
        message = (
            (number, False, _portable(exc), taken, written)
            if exc is not None
            else (number, True, future.result(), taken, written)
        )
        try:
            with send_lock:
                conn.send(message)
        except OSError:
            pass  # the parent is gone; what was committed stays committed

    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                break
            if request is None:
                break
            number, name, args = request
            future: Future[Any]
            if name == RECORD:
                future = committer.submit(args[0])
            else:
                # A read here, in the thread that took the request: a millisecond or
                # so, and no hand-off to a reader thread (one wake-up less a read on
                # a busy machine, and one thread less for this process's GIL).
                future = Future()
                try:
                    if name not in READS:
                        raise ValueError(f"not a ledger request: {name}")
                    future.set_result(getattr(ledger, name)(*args))
                except Exception as exc:
                    future.set_exception(exc)
            future.add_done_callback(partial(answer, number))
    finally:
        committer.close()
        conn.close()
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
