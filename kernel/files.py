"""Files that are whole or absent: atomic writes with fsync, and SHA-256 of a file.

Every file the service produces (flow files, statements, spools' offsets,
pre-billing, DELIVERY files) is written under a temporary name in the same
folder, flushed and fsync'd, then renamed over its final name, and the folder
is fsync'd so that the rename itself survives a power cut. A reader sees the
old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """``with atomic_writer(path) as out: out.write(...)``; on error nothing replaces ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(partial, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        _fsync_dir(path.parent)
    finally:
        partial.unlink(missing_ok=True)


def atomic_write(path: Path, data: bytes) -> None:
    with atomic_writer(path) as out:
        out.write(data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
