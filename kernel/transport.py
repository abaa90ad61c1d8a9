"""Moving files to and from the planning software or the Département.

A ``Transport`` has a root (a local folder or an SFTP login directory) and
works with *folders* relative to it (``"in"``, ``"out"``, ``"acks"``...)::

    from kernel.transport import open_transport
    from flows.settings import load

    transport = open_transport(load(), data_dir)      # local or SFTP, from settings
    with transport:
        digest = transport.put(local_path, "out")        # -> out/<local_path.name>
        for name in transport.list("acks"):              # complete files only, oldest name first
            data = transport.read("acks", name)          # small files (acknowledgements)
            ...                                          # process and commit, then:
            transport.mark_processed("acks", name)       # -> acks/processed/<name>

Promises, whatever the kind:

- ``put`` writes under a hidden temporary name (``.<name>.part-<random>``),
  checks the SHA-256 of what arrived against the local file (verified
  re-read), renames it to its final name, then writes a ``<name>.sha256``
  sidecar (``<hex>  <name>``). A reader never sees a half-written file.
- ``get``/``read`` check a sidecar when one is present; ``get`` writes the
  local copy under a temporary name and renames it when complete.
- ``list`` shows neither hidden (temporary) files, sidecars nor folders.
- Nothing is ever deleted. A source file stays where it is until the caller,
  after committing, calls ``mark_processed`` (a move to ``processed/``).
- Every operation is retried with exponential back-off on network or
  checksum errors; an unknown or changed SFTP host key, a refused login or a
  missing file is not retried.
- SFTP checks the server's key against the configured known_hosts only
  (never auto-accepted); the password or key passphrase come from the
  environment (``TELEGESTION_FLOWS_SFTP_PASSWORD``,
  ``TELEGESTION_FLOWS_SFTP_KEY_PASSPHRASE``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Protocol, Self, TypeVar

import paramiko

from kernel.files import sha256_file
from kernel.settings import SettingsError, environ, load_section

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK = 1 << 16
SIDECAR_SUFFIX = ".sha256"
PROCESSED = "processed"
TRANSPORT_KINDS = ("local", "sftp")


@dataclass(frozen=True)
class TransportSettings:
    """Where files go and come from: local folders or SFTP (section ``[flows]``)."""

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
    #: Attempts of each transfer, and the first back-off delay in seconds (doubled each time).
    attempts: int = 4
    backoff_seconds: float = 2.0

    def validate(self) -> Self:
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


def load_transport_settings() -> TransportSettings:
    """The exchange server's settings, from ``[flows]`` (``TELEGESTION_FLOWS_*``)."""
    return load_section(TransportSettings, "flows").validate()


PASSWORD_ENV = "TELEGESTION_FLOWS_SFTP_PASSWORD"  # noqa: S105 (a variable name)
PASSPHRASE_ENV = "TELEGESTION_FLOWS_SFTP_KEY_PASSPHRASE"  # noqa: S105


class TransportError(Exception):
    """A transfer failed (after its retries); the message is safe to show."""


class RetryableError(TransportError):
    """A transfer failed in a way worth retrying (checksum mismatch...)."""


class HostKeyError(TransportError):
    """The SFTP server's key is unknown or differs from known_hosts: never retried."""


def safe_name(name: str) -> str:
    """Return ``name`` if it is a plain file name, else raise ``ValueError``.

    Refuses path separators, ``..``, hidden names, control characters and
    empty names: a remote listing must never make us read or write elsewhere.
    """
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > 255
    ):
        raise ValueError(f"nom de fichier refusé : {name!r}")
    return name


def safe_folder(folder: str) -> str:
    """A relative folder made of safe names (``"in"``, ``"in/processed"``)."""
    parts = PurePosixPath(folder).parts
    if not parts or PurePosixPath(folder).is_absolute():
        raise ValueError(f"dossier refusé : {folder!r}")
    for part in parts:
        safe_name(part)
    return "/".join(parts)


def sidecar_text(digest: str, name: str) -> bytes:
    return f"{digest}  {name}\n".encode("ascii", "strict")


def parse_sidecar(data: bytes) -> str:
    text = data.decode("ascii", "replace").strip()
    return text.split()[0].lower() if text else ""


def with_retry(
    operation: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    on_error: Callable[[], None] = lambda: None,
) -> T:
    """Run ``operation``, retrying transient failures with doubling delays."""
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (HostKeyError, paramiko.AuthenticationException, FileNotFoundError):
            on_error()
            raise
        except PermissionError:
            on_error()
            raise
        except (OSError, EOFError, paramiko.SSHException, RetryableError) as exc:
            on_error()
            if attempt == attempts:
                raise TransportError(f"{what} : échec après {attempts} essais ({exc})") from exc
            logger.warning(
                "%s: attempt %d failed (%s), retrying in %.1fs", what, attempt, exc, delay
            )
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


class Transport(Protocol):
    """Files in folders under one root; see the module docstring for the promises."""

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        """Upload ``local`` as ``folder/name`` (default: its own name); return its SHA-256."""
        ...

    def list(self, folder: str) -> list[str]:
        """Names of the complete files in ``folder``, sorted; [] when it does not exist."""
        ...

    def get(self, folder: str, name: str, dest: Path) -> str:
        """Download ``folder/name`` to the file ``dest``; return its SHA-256."""
        ...

    def read(self, folder: str, name: str) -> bytes:
        """The content of a small file ``folder/name`` (checked against its sidecar)."""
        ...

    def mark_processed(self, folder: str, name: str) -> str:
        """Move ``folder/name`` (and its sidecar) to ``folder/processed/``; return the new name."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _temp_name(name: str) -> str:
    return f".{name}.part-{secrets.token_hex(4)}"


def _download_verified(source: _Readable, dest: Path, expected: str | None, what: str) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(_temp_name(dest.name))
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected and digest.hexdigest() != expected:
            raise RetryableError(f"{what} : somme de contrôle différente")
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return digest.hexdigest()


class _Base:
    attempts: int
    backoff: float
    sleep: Callable[[float], None]

    def _retry(self, operation: Callable[[], T], what: str) -> T:
        return with_retry(
            operation,
            attempts=self.attempts,
            backoff=self.backoff,
            what=what,
            sleep=self.sleep,
            on_error=self._reset,
        )

    def _reset(self) -> None:
        return None

    def close(self) -> None:
        self._reset()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LocalFolderTransport(_Base):
    """A folder on this machine standing for the remote side (tests, shared mounts)."""

    def __init__(
        self,
        root: Path,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.root = root
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    def _dir(self, folder: str) -> Path:
        return self.root / safe_folder(folder)

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        final_name = safe_name(name or local.name)
        target_dir = self._dir(folder)
        expected = sha256_file(local)

        def attempt() -> str:
            target_dir.mkdir(parents=True, exist_ok=True)
            partial = target_dir / _temp_name(final_name)
            try:
                with open(local, "rb") as src, open(partial, "wb") as dst:
                    for chunk in iter(lambda: src.read(CHUNK), b""):
                        dst.write(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
                if sha256_file(partial) != expected:
                    raise RetryableError(f"{final_name} : somme de contrôle différente")
                partial.replace(target_dir / final_name)
            finally:
                partial.unlink(missing_ok=True)
            _write_atomic(
                target_dir, final_name + SIDECAR_SUFFIX, sidecar_text(expected, final_name)
            )
            return expected

        digest = self._retry(attempt, f"dépôt de {final_name}")
        logger.info("uploaded %s to %s (sha256 %s)", final_name, folder, digest[:12])
        return digest

    def list(self, folder: str) -> list[str]:
        directory = self._dir(folder)
        if not directory.is_dir():
            return []
        return sorted(
            p.name
            for p in directory.iterdir()
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(SIDECAR_SUFFIX)
        )

    def _expected(self, folder: str, name: str) -> str | None:
        sidecar = self._dir(folder) / (name + SIDECAR_SUFFIX)
        return parse_sidecar(sidecar.read_bytes()) if sidecar.is_file() else None

    def get(self, folder: str, name: str, dest: Path) -> str:
        source = self._dir(folder) / safe_name(name)

        def attempt() -> str:
            with open(source, "rb") as handle:
                return _download_verified(handle, dest, self._expected(folder, name), name)

        return self._retry(attempt, f"lecture de {name}")

    def read(self, folder: str, name: str) -> bytes:
        source = self._dir(folder) / safe_name(name)

        def attempt() -> bytes:
            data = source.read_bytes()
            expected = self._expected(folder, name)
            if expected and hashlib.sha256(data).hexdigest() != expected:
                raise RetryableError(f"{name} : somme de contrôle différente")
            return data

        return self._retry(attempt, f"lecture de {name}")

    def mark_processed(self, folder: str, name: str) -> str:
        source_dir = self._dir(folder)
        target_dir = source_dir / PROCESSED
        target_dir.mkdir(parents=True, exist_ok=True)
        new_name = _free_name(safe_name(name), {p.name for p in target_dir.iterdir()})
        (source_dir / name).rename(target_dir / new_name)
        sidecar = source_dir / (name + SIDECAR_SUFFIX)
        if sidecar.is_file():
            sidecar.rename(target_dir / (new_name + SIDECAR_SUFFIX))
        return new_name


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name.1``, ``name.2``... when already taken: nothing is overwritten."""
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}.{n}"
    return candidate


def _write_atomic(directory: Path, name: str, data: bytes) -> None:
    partial = directory / _temp_name(name)
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(directory / name)


class _RefuseUnknownHost(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyError(
            f"clé d'hôte inconnue pour {hostname} ({key.get_name()}) : "
            "ajoutez-la au fichier known_hosts configuré"
        )


class SftpTransport(_Base):
    """SFTP with strict host-key checking, one connection reused until an error."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        known_hosts: Path,
        *,
        key_path: Path | None = None,
        password: str | None = None,
        passphrase: str | None = None,
        timeout: float = 30,
        attempts: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not known_hosts.is_file():
            raise HostKeyError(f"fichier known_hosts introuvable : {known_hosts}")
        if key_path is None and password is None:
            raise TransportError(f"SFTP : ni clé ni mot de passe ({PASSWORD_ENV})")
        self.host, self.port, self.user = host, port, user
        self.known_hosts = known_hosts
        self.key_path = key_path
        self._password = password
        self._passphrase = passphrase
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __repr__(self) -> str:
        return f"SftpTransport({self.user}@{self.host}:{self.port})"

    def _connect(self) -> paramiko.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_RefuseUnknownHost())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                password=self._password,
                key_filename=str(self.key_path) if self.key_path else None,
                passphrase=self._passphrase,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                look_for_keys=False,
                allow_agent=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"la clé d'hôte de {self.host} ne correspond pas à known_hosts"
            ) from exc
        except BaseException:
            client.close()
            raise
        self._client = client
        self._sftp = client.open_sftp()
        self._sftp.get_channel().settimeout(self.timeout)  # type: ignore[union-attr]
        return self._sftp

    def _reset(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._sftp = None
        self._client = None

    def _ensure_dir(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        path = ""
        for part in folder.split("/"):
            path = f"{path}/{part}" if path else part
            try:
                mode = sftp.stat(path).st_mode
            except FileNotFoundError:
                sftp.mkdir(path)
                continue
            if mode is None or not stat.S_ISDIR(mode):
                raise TransportError(f"{path} n'est pas un dossier")

    def put(self, local: Path, folder: str, name: str | None = None) -> str:
        final_name = safe_name(name or local.name)
        folder = safe_folder(folder)
        expected = sha256_file(local)

        def attempt() -> str:
            sftp = self._connect()
            self._ensure_dir(sftp, folder)
            partial = f"{folder}/{_temp_name(final_name)}"
            try:
                with open(local, "rb") as src:
                    sftp.putfo(src, partial, confirm=True)
                if self._remote_sha256(sftp, partial) != expected:
                    raise RetryableError(f"{final_name} : somme de contrôle différente")
                sftp.posix_rename(partial, f"{folder}/{final_name}")
            finally:
                with contextlib.suppress(OSError):
                    sftp.remove(partial)
            sidecar_partial = f"{folder}/{_temp_name(final_name + SIDECAR_SUFFIX)}"
            with sftp.open(sidecar_partial, "wb") as handle:
                handle.write(sidecar_text(expected, final_name))
            sftp.posix_rename(sidecar_partial, f"{folder}/{final_name}{SIDECAR_SUFFIX}")
            return expected

        digest = self._retry(attempt, f"dépôt SFTP de {final_name}")
        logger.info("uploaded %s to %s:%s (sha256 %s)", final_name, self.host, folder, digest[:12])
        return digest

    @staticmethod
    def _remote_sha256(sftp: paramiko.SFTPClient, path: str) -> str:
        digest = hashlib.sha256()
        with sftp.open(path, "rb") as handle:
            handle.prefetch()
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def list(self, folder: str) -> list[str]:
        folder = safe_folder(folder)

        def attempt() -> list[str]:
            sftp = self._connect()
            try:
                entries = sftp.listdir_attr(folder)
            except FileNotFoundError:
                return []
            return sorted(
                e.filename
                for e in entries
                if e.st_mode is not None
                and stat.S_ISREG(e.st_mode)
                and not e.filename.startswith(".")
                and not e.filename.endswith(SIDECAR_SUFFIX)
            )

        return self._retry(attempt, f"liste SFTP de {folder}")

    def _expected(self, sftp: paramiko.SFTPClient, folder: str, name: str) -> str | None:
        try:
            with sftp.open(f"{folder}/{name}{SIDECAR_SUFFIX}", "rb") as handle:
                return parse_sidecar(handle.read())
        except FileNotFoundError:
            return None

    def get(self, folder: str, name: str, dest: Path) -> str:
        folder, name = safe_folder(folder), safe_name(name)

        def attempt() -> str:
            sftp = self._connect()
            expected = self._expected(sftp, folder, name)
            with sftp.open(f"{folder}/{name}", "rb") as handle:
                handle.prefetch()
                return _download_verified(handle, dest, expected, name)

        digest = self._retry(attempt, f"lecture SFTP de {name}")
        logger.info("downloaded %s from %s:%s", name, self.host, folder)
        return digest

    def read(self, folder: str, name: str) -> bytes:
        folder, name = safe_folder(folder), safe_name(name)

        def attempt() -> bytes:
            sftp = self._connect()
            expected = self._expected(sftp, folder, name)
            with sftp.open(f"{folder}/{name}", "rb") as handle:
                data = handle.read()
            if expected and hashlib.sha256(data).hexdigest() != expected:
                raise RetryableError(f"{name} : somme de contrôle différente")
            return data

        return self._retry(attempt, f"lecture SFTP de {name}")

    def mark_processed(self, folder: str, name: str) -> str:
        folder, name = safe_folder(folder), safe_name(name)

        def attempt() -> str:
            sftp = self._connect()
            target = f"{folder}/{PROCESSED}"
            self._ensure_dir(sftp, target)
            new_name = _free_name(name, set(sftp.listdir(target)))
            sftp.rename(f"{folder}/{name}", f"{target}/{new_name}")
            with contextlib.suppress(FileNotFoundError):
                sftp.rename(
                    f"{folder}/{name}{SIDECAR_SUFFIX}", f"{target}/{new_name}{SIDECAR_SUFFIX}"
                )
            return new_name

        return self._retry(attempt, f"archivage SFTP de {name}")

    def close(self) -> None:
        self._reset()


def open_transport(
    settings: TransportSettings, data_dir: Path, env: Mapping[str, str] | None = None
) -> Transport:
    """The configured transport. Secrets come from ``env`` (default: the environment)."""
    env = environ() if env is None else env
    settings.validate()
    if settings.transport == "local":
        root = settings.local_root if str(settings.local_root) not in ("", ".") else None
        return LocalFolderTransport(
            root or data_dir / "flows" / "remote",
            attempts=settings.attempts,
            backoff=settings.backoff_seconds,
        )
    key = settings.sftp_key_path if str(settings.sftp_key_path) not in ("", ".") else None
    return SftpTransport(
        settings.sftp_host,
        settings.sftp_port,
        settings.sftp_user,
        settings.sftp_known_hosts,
        key_path=key,
        password=env.get(PASSWORD_ENV) or None,
        passphrase=env.get(PASSPHRASE_ENV) or None,
        timeout=settings.sftp_timeout,
        attempts=settings.attempts,
        backoff=settings.backoff_seconds,
    )


@contextlib.contextmanager
def opened(settings: TransportSettings, data_dir: Path) -> Iterator[Transport]:
    """``with opened(settings, data_dir) as transport:`` closes the connection after use."""
    transport = open_transport(settings, data_dir)
    try:
        yield transport
    finally:
        transport.close()
