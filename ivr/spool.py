"""Append-only spool files: one line per call, fsync'd, replayed from a saved offset.

The file is never rewritten. Its reader keeps the byte offset of the first
line not yet loaded in ``<file>.offset`` (written atomically); a line is only
counted once it ends with a newline, so a half-written line waits. Replaying a
line twice is harmless because ``ledger.service.record_call`` is idempotent on
the channel id.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset_path = path.with_name(path.name + ".offset")
        self.rejected_path = path.with_name(path.name + ".rejected")
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        """Write one line durably before returning."""
        if "\n" in line:
            raise ValueError("a spool line cannot hold a newline")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)

    def offset(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def has_pending(self) -> bool:
        try:
            return self.path.stat().st_size > self.offset()
        except OSError:
            return False

    def pending(self) -> Iterator[tuple[int, str]]:
        """Complete lines not yet loaded, with the offset just past each."""
        start = self.offset()
        try:
            with self.path.open("rb") as handle:
                handle.seek(start)
                position = start
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        return
                    position += len(raw)
                    yield position, raw.decode("utf-8", errors="replace").rstrip("\n")
        except FileNotFoundError:
            return

    def mark(self, offset: int) -> None:
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(offset).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.offset_path)

    def reject(self, line: str, reason: str) -> None:
        """Keep a line that cannot be loaded, for a person to look at."""
        logger.error("spool %s: line rejected (%s)", self.path.name, reason)
        fd = os.open(self.rejected_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{reason}\t{line}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
