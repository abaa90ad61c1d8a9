"""A small time-bounded cache of computed statistics, one per application (per worker).

Monthly figures change only by corrections; recomputing them for every page
view would scan a year of visits each time (see bench/extranet).
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

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, whether it came from the cache)."""
        now = self._clock()
        with self._lock:
            found = self._values.get(key)
            if found is not None and now - found[0] < self.seconds:
                return found[1], True
        value = compute()
        with self._lock:
            self._values = {k: v for k, v in self._values.items() if now - v[0] < self.seconds}
            self._values[key] = (now, value)
        return value, False
