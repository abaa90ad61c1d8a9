"""Fixtures of the flows tests: a data directory, settings, and a real OpenSSH server.

The SFTP server is Debian's ``/usr/sbin/sshd`` on loopback, started by the
session with its own configuration, a random free port, a host key and a user
key generated into a temporary folder; it serves ``internal-sftp`` rooted in a
folder the tests can inspect.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.transport import SftpTransport

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flows-test", "-f", str(path)],
        check=True,
    )


@dataclass
class SshServer:
    port: int
    root: Path
    known_hosts: Path
    user_key: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def transport(self, **kw: object) -> SftpTransport:
        options: dict[str, object] = {"attempts": 3, "backoff": 0.01, "timeout": 10}
        options.update(kw)
        return SftpTransport(
            "127.0.0.1",
            self.port,
            os.environ.get("USER", "root") if os.geteuid() else "root",
            self.known_hosts,
            key_path=self.user_key,
            **options,  # type: ignore[arg-type]
        )

    def environment(self) -> dict[str, str]:
        """The ``TELEGESTION_FLOWS_*`` variables an operator sets to use this server."""
        values = {
            "TRANSPORT": "sftp",
            "SFTP_HOST": "127.0.0.1",
            "SFTP_PORT": str(self.port),
            "SFTP_USER": "root",
            "SFTP_KNOWN_HOSTS": str(self.known_hosts),
            "SFTP_KEY_PATH": str(self.user_key),
            "SFTP_TIMEOUT": "10",
            "BACKOFF_SECONDS": "0.01",
        }
        return {f"TELEGESTION_FLOWS_{key}": value for key, value in values.items()}

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603
            [str(SSHD), "-D", "-e", "-f", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.config.with_suffix(".log"), "ab"),  # noqa: SIM115
        )
        wait_for_banner(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def wait_for_banner(port: int, process: subprocess.Popen[bytes], attempts: int = 500) -> None:
    """Poll until sshd answers with its banner (or has died)."""
    for _ in range(attempts):
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.02)
    raise RuntimeError("sshd did not answer")


def make_server(base: Path, port: int | None = None) -> SshServer:
    base.mkdir(parents=True, exist_ok=True)
    host_key, user_key = base / "host_ed25519", base / "user_ed25519"
    if not host_key.exists():
        keygen(host_key)
        keygen(user_key)
    port = port or free_port()
    root = base / "sftp-root"
    root.mkdir(exist_ok=True)
    shutil.copy(user_key.with_suffix(".pub"), base / "authorized_keys")
    (base / "authorized_keys").chmod(0o600)
    host_pub = host_key.with_suffix(".pub").read_text().split()
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = base / f"sshd_config_{port}"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {base}/sshd_{port}.pid",
                f"AuthorizedKeysFile {base}/authorized_keys",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "Subsystem sftp internal-sftp",
                f"ForceCommand internal-sftp -d {root}",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    return SshServer(port, root, known_hosts, user_key, config)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists():
        pytest.fail("openssh-server is not installed (scripts/system-packages.txt)")
    server = make_server(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sftp_root(sshd: SshServer) -> Iterator[Path]:
    """The server's root, emptied after each test."""
    yield sshd.root
    for child in sshd.root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[[int | None], SshServer]]:
    started: list[SshServer] = []

    def build(port: int | None = None) -> SshServer:
        server = make_server(tmp_path / f"sshd-{len(started)}", port)
        started.append(server)
        return server

    yield build
    for server in started:
        server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
