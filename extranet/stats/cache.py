"""A small time-bounded cache of computed statistics, one per application (per worker).

Monthly figures change only by corrections; recomputing them for every page
view would scan a year of visits each time (see bench/extranet). One
computation per key at a time: a request that finds the same key being
computed waits for that result instead of computing it a second time (at ten
million visits, five referents opening the statistics at once would otherwise
each allocate six months).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._computing: dict[Hashable, threading.Lock] = {}

    def _fresh(self, key: Hashable, now: float) -> tuple[bool, Any]:
        with self._lock:
            found = self._values.get(key)
            if found is not None and now - found[0] < self.seconds:
                return True, found[1]
            return False, None

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, whether it came from the cache)."""
        now = self._clock()
        hit, value = self._fresh(key, now)
        if hit:
            return value, True
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            # Another request may have computed it while this one waited.
            hit, value = self._fresh(key, self._clock())
            if hit:
                return value, True
            try:
                value = compute()
                now = self._clock()
                with self._lock:
                    self._values = {
                        k: v for k, v in self._values.items() if now - v[0] < self.seconds
                    }
                    self._values[key] = (now, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
        return value, False
