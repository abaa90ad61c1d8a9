"""Flows settings: section ``[flows]``, environment ``TELEGESTION_FLOWS_<FIELD>``.

Secrets are never fields here: the SFTP password comes from
``TELEGESTION_FLOWS_SFTP_PASSWORD`` and a private key's passphrase from
``TELEGESTION_FLOWS_SFTP_KEY_PASSPHRASE`` (see ``flows.transport.open_transport``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import SettingsError, load_section

TRANSPORT_KINDS = ("local", "sftp")


@dataclass(frozen=True)
class FlowsSettings:
    #: "local" (a folder standing for the remote side) or "sftp".
    transport: str = "local"
    #: Root of the local transport; empty means ``<data_dir>/flows/remote``.
    local_root: Path = Path("")
    sftp_host: str = ""
    sftp_port: int = 22
    sftp_user: str = ""
    #: OpenSSH known_hosts file holding the server's key; required for SFTP.
    sftp_known_hosts: Path = Path("")
    #: Private key file (outside the repository); empty means password authentication.
    sftp_key_path: Path = Path("")
    sftp_timeout: int = 30
    #: Remote folders, relative to the transport root (SFTP: the login directory).
    incoming_dir: str = "in"
    outgoing_dir: str = "out"
    #: Attempts of each transfer, and the first back-off delay in seconds (doubled each time).
    attempts: int = 4
    backoff_seconds: float = 2.0
    #: Whether a daily beneficiaries/workers file is complete (absent people are ended).
    full_daily_files: bool = True
    #: Reject an import file larger than this (bytes); 0 means no limit.
    max_file_bytes: int = 0

    def validate(self) -> FlowsSettings:
        if self.transport not in TRANSPORT_KINDS:
            raise SettingsError(f"flows.transport: expected one of {TRANSPORT_KINDS}")
        if self.transport == "sftp":
            if not self.sftp_host or not self.sftp_user:
                raise SettingsError("flows.sftp_host and flows.sftp_user are required for SFTP")
            if not str(self.sftp_known_hosts) or str(self.sftp_known_hosts) == ".":
                raise SettingsError("flows.sftp_known_hosts is required for SFTP")
        if self.attempts < 1:
            raise SettingsError("flows.attempts must be at least 1")
        return self


def load() -> FlowsSettings:
    return load_section(FlowsSettings, "flows").validate()
