"""Flows settings: section ``[flows]``, environment ``TELEGESTION_FLOWS_<FIELD>``.

Secrets are never fields here: the SFTP password comes from
``TELEGESTION_FLOWS_SFTP_PASSWORD`` and a private key's passphrase from
``TELEGESTION_FLOWS_SFTP_KEY_PASSPHRASE`` (see ``kernel.transport.open_transport``).
The transport's own fields
(``transport``, ``local_root``, ``sftp_*``, ``attempts``, ``backoff_seconds``) are the
kernel's ``TransportSettings``, read from the same ``[flows]`` section.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.settings import load_section
from kernel.transport import TransportSettings


@dataclass(frozen=True)
class FlowsSettings(TransportSettings):
    """The planning software's exchange: the kernel's transport settings, plus the flows' own."""

    #: Remote folders, relative to the transport root (SFTP: the login directory).
    incoming_dir: str = "in"
    outgoing_dir: str = "out"
    #: Whether a daily beneficiaries/workers file is complete (absent people are ended).
    full_daily_files: bool = True
    #: Reject an import file larger than this (bytes); 0 means no limit.
    max_file_bytes: int = 0


def load() -> FlowsSettings:
    return load_section(FlowsSettings, "flows").validate()
