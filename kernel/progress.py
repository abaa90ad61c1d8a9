"""Progress of a long command on the terminal: one line on stderr, rewritten in place.

``Progress(label)`` is a ``progress(done, total)`` callable, the shape every
long operation takes (``archive.pipeline.run_month``, ``verify_archive``,
``flows.importer.import_file``, a job's ``JobContext.progress``). When stderr
is not a terminal (cron, CI, a pipe, the scheduler) it prints nothing, so
logs stay clean; ``also`` is called in every case (e.g. the run journal).
The line is French, like everything an operator reads: count or size,
percentage, rate and time left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

#: Redraw at most this often (a terminal is slow to scroll, the work is not).
EVERY_SECONDS = 0.2


def _size(n: float) -> str:
    for unit in ("o", "ko", "Mo", "Go"):
        if n < 1000 or unit == "Go":
            return f"{n:.0f} {unit}" if unit == "o" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


class Progress:
    def __init__(
        self,
        label: str,
        unit: str = "",
        *,
        also: Callable[[int, int], None] | None = None,
        stream: Any = None,
    ) -> None:
        #: ``unit="o"`` shows sizes (bytes read of a file); anything else, counts.
        self.label = label
        self.unit = unit
        self.also = also
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.last = 0.0
        self.open = False

    def __call__(self, done: int, total: int) -> None:
        if self.also is not None:
            self.also(done, total)
        if not self.stream.isatty():
            return
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self.last < EVERY_SECONDS:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0.0
        percent = 100 * done / total if total else 100.0
        if self.unit == "o":
            amount = f"{_size(done)} / {_size(total)}"
            speed = f"{_size(rate)}/s"
        else:
            unit = f" {self.unit}" if self.unit else ""
            amount = f"{done}/{total}{unit}"
            speed = f"{rate:.1f}/s"
        line = f"{self.label} : {amount} ({percent:.0f} %, {speed}, reste {left:.0f} s)"
        self.stream.write(f"\r{line}\x1b[K" + ("\n" if finished else ""))
        self.stream.flush()
        self.open = not finished
