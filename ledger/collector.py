"""The garbage collector's settings for work that makes many objects: one place.

Two lengths of work, two settings (decision 0205, "fourth pass", says why an
import does not switch the collector off):

* ``without_cyclic_gc``: a burst of a second or two that builds acyclic
  objects (a month allocated by ``ledger.money``/``ledger.facts``, a year's
  rows of a statistics file): the collector off for the burst.
* ``freeze_survivors``: once, after a server's start-up work (its warming),
  whose objects live as long as the process.
* ``quiet_collector``: a job of minutes that keeps some of what it makes (a
  flat-file import): the objects alive before it frozen, young collections
  rarer, the settings put back by the last job out.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """For a short burst of acyclic objects (a month's facts and figures, a year's rows
    of a file: up to millions, built in a second or two): the cyclic collector off, so
    it does not walk them over and over as they are made; none of them is part of a
    cycle, reference counting frees them. Cycles made meanwhile wait for its next pass.

    Process-wide: threads running meanwhile run without it too; the thread that found
    it on puts it back on (a burst inside another leaves it as it found it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_survivors() -> None:
    """After a process's start-up work (an extranet worker's warming: months of
    hundreds of thousands of facts read into its cache): collect once, then freeze
    what survived, so that no request pays a full collection that walks them.

    The warming left so many new objects that the first request's allocations set
    off a full collection of all of them: 0.45 s of CPU added to that request, for
    one antenna's month page at ten million visits. Frozen objects are still freed
    by reference counting when the cache drops them (they hold no cycles)."""
    gc.collect()
    gc.freeze()


#: Allocations between two young collections while a long job runs (Python's default 700).
QUIET_THRESHOLD = 10_000
_lock = threading.Lock()
#: Long jobs running in this process, and the collector's thresholds before the first.
_quiet = 0
_thresholds: tuple[int, ...] = gc.get_threshold()
_froze = False


@contextmanager
def quiet_collector() -> Iterator[None]:
    """For a long job (an import: minutes, millions of objects, some kept): make the
    garbage collector's work proportional to what the job keeps, and put it back
    as it was after.

    An import allocates millions of objects. With the defaults, they set off
    a few dozen full collections that each walked every object of the process
    (loaded modules, SQLAlchemy's mappings: about 100,000) for about 55 ms,
    and thousands of young collections that walked the chunk's rows again
    and again: together 15 % of the CPU time of an import of 100,000
    beneficiaries. The objects that exist before the import are frozen
    (``gc.freeze``: full collections skip them) and young collections are
    rarer. Nothing is kept alive longer: reference counting frees what it
    always freed, and cycles are still collected, less often.
    """
    global _quiet, _thresholds, _froze
    # Process-wide settings: jobs running at once in threads share them,
    # the first one in sets them and the last one out puts them back.
    with _lock:
        if _quiet == 0:
            _thresholds = gc.get_threshold()
            # A process that froze objects itself (a preloading server) keeps them
            # frozen: ``unfreeze`` cannot tell its objects from the import's.
            _froze = gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
            gc.set_threshold(QUIET_THRESHOLD, *_thresholds[1:])
        _quiet += 1
    try:
        yield
    finally:
        with _lock:
            _quiet -= 1
            if _quiet == 0:
                gc.set_threshold(*_thresholds)
                if _froze:
                    gc.unfreeze()
