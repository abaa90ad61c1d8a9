"""Archive settings: the ``[archive]`` section, and its secrets from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from kernel.settings import ENV_PREFIX, SettingsError, environ, load_section

PASSPHRASE_ENV = ENV_PREFIX + "ARCHIVE_PKCS12_PASSPHRASE"
PASSPHRASE_FILE_ENV = ENV_PREFIX + "ARCHIVE_PKCS12_PASSPHRASE_FILE"


@dataclass(frozen=True)
class ArchiveSettings:
    """Where the archive lives, which key signs and which authority timestamps."""

    #: The organisation's PKCS#12 (key and certificate chain); empty means the
    #: trial one made by ``telegestion archive init-pki`` under the data dir.
    pkcs12_path: str = ""
    #: RFC 3161 timestamp authority URL; empty means the trial local authority.
    tsa_url: str = ""
    #: Extra trust roots (PEM or DER files, comma separated) for a real PKI.
    trust_roots: str = ""
    #: Kept for old configuration files only: statements are now signed the
    #: night after a month's close (``kernel.monthly``); the cut-off is
    #: ``[closing] cutoff_day``.
    correction_deadline_day: int = 5
    #: Processes used to build and sign statements (0 means one per core).
    processes: int = 0
    #: Validate the written PDF/A of one statement in this many (1: every one);
    #: the first statement of each process is always validated.
    pdfa_check_every: int = 20
    #: Journal entries between two timestamped seals.
    seal_every: int = 500
    #: Years a statement is kept before it may be purged.
    retention_years: int = 10
    #: Extend a file's timestamp chain when its last timestamp's authority
    #: certificate expires, or its hash algorithm is retired, within this many days.
    renew_before_days: int = 365
    #: When each hash algorithm stops being trusted for timestamps ("alg:YYYY-MM-DD",
    #: comma separated); a chain whose last link uses one due is extended with ``renew_hash``.
    hash_sunsets: str = "sha1:2016-01-01,sha256:2040-01-01"
    #: Hash of a link added because the previous one's algorithm is being retired.
    renew_hash: str = "sha512"
    organisation_address: str = "12 rue du Temple, 75004 Paris"
    organisation_siret: str = "000 000 000 00000"
    organisation_phone: str = "01 00 00 00 00"

    def __post_init__(self) -> None:
        if not 1 <= self.correction_deadline_day <= 27:
            raise SettingsError(
                "archive.correction_deadline_day: expected a day between 1 and 27, "
                f"got {self.correction_deadline_day}"
            )
        if self.processes < 0:
            raise SettingsError(f"archive.processes: expected 0 or more, got {self.processes}")
        if self.pdfa_check_every < 1:
            raise SettingsError(
                f"archive.pdfa_check_every: expected 1 or more, got {self.pdfa_check_every}"
            )
        if self.renew_before_days < 1:
            raise SettingsError(
                f"archive.renew_before_days: expected 1 or more, got {self.renew_before_days}"
            )
        self.sunsets()  # validated here, with the file's other settings
        if self.seal_every < 1:
            raise SettingsError(f"archive.seal_every: expected 1 or more, got {self.seal_every}")

    def sunsets(self) -> dict[str, date]:
        """``hash_sunsets`` parsed: algorithm -> first day it is no longer trusted."""
        found: dict[str, date] = {}
        for item in filter(None, (part.strip() for part in self.hash_sunsets.split(","))):
            name, _, day = item.partition(":")
            try:
                found[name.strip().lower()] = date.fromisoformat(day.strip())
            except ValueError:
                raise SettingsError(
                    f"archive.hash_sunsets: expected alg:YYYY-MM-DD, got {item!r}"
                ) from None
        return found


def load() -> ArchiveSettings:
    return load_section(ArchiveSettings, "archive")


def passphrase_from_env(default_file: Path | None = None) -> bytes | None:
    """The PKCS#12 passphrase: from the environment, a file it names, or the trial file."""
    env = environ()
    if PASSPHRASE_ENV in env:
        return env[PASSPHRASE_ENV].encode()
    path = env.get(PASSPHRASE_FILE_ENV)
    if path:
        return Path(path).read_bytes().strip()
    if default_file is not None and default_file.exists():
        return default_file.read_bytes().strip()
    return None
