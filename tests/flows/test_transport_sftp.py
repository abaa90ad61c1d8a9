"""SFTP against a real OpenSSH server on loopback."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from kernel.transport import HostKeyError, SftpTransport, TransportError
from tests.flows.conftest import SshServer, free_port, keygen

pytestmark = pytest.mark.sftp


def test_upload_goes_through_a_temporary_name_then_rename(
    sshd: SshServer, sftp_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "horodatages_20261123.csv"
    local.write_bytes(b"a;b\r\n1;2\r\n" * 1000)
    renames: list[tuple[str, bool, bool]] = []
    real_rename = paramiko.SFTPClient.posix_rename

    def spy(self: paramiko.SFTPClient, old: str, new: str) -> None:
        # What the server's disk shows at the moment of the rename.
        renames.append((Path(old).name, (sftp_root / old).is_file(), (sftp_root / new).exists()))
        real_rename(self, old, new)

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", spy)
    with sshd.transport() as transport:
        digest = transport.put(local, "out")

    data_name, temp_existed, final_existed = renames[0]
    assert data_name.startswith(".horodatages_20261123.csv.part-")
    assert temp_existed and not final_existed
    uploaded = sftp_root / "out" / "horodatages_20261123.csv"
    assert uploaded.read_bytes() == local.read_bytes()
    assert digest == hashlib.sha256(local.read_bytes()).hexdigest()
    sidecar = (sftp_root / "out" / "horodatages_20261123.csv.sha256").read_text()
    assert sidecar == f"{digest}  horodatages_20261123.csv\n"
    assert sorted(p.name for p in (sftp_root / "out").iterdir()) == [
        "horodatages_20261123.csv",
        "horodatages_20261123.csv.sha256",
    ]


def test_download_list_and_processed_move(sshd: SshServer, sftp_root: Path, tmp_path: Path) -> None:
    incoming = sftp_root / "in"
    incoming.mkdir()
    (incoming / "beneficiaires_20261123.csv").write_bytes(b"x\r\n")
    (incoming / ".beneficiaires_20261124.csv.part-0001").write_bytes(b"half")
    (incoming / "sub").mkdir()
    with sshd.transport() as transport:
        assert transport.list("in") == ["beneficiaires_20261123.csv"]
        assert transport.list("absent") == []
        digest = transport.get("in", "beneficiaires_20261123.csv", tmp_path / "got.csv")
        # Still there: nothing moves before the caller says it is processed.
        assert (incoming / "beneficiaires_20261123.csv").exists()
        assert transport.mark_processed("in", "beneficiaires_20261123.csv") == (
            "beneficiaires_20261123.csv"
        )
        (incoming / "beneficiaires_20261123.csv").write_bytes(b"again\r\n")
        assert transport.mark_processed("in", "beneficiaires_20261123.csv") == (
            "beneficiaires_20261123.csv.1"
        )
    assert (tmp_path / "got.csv").read_bytes() == b"x\r\n"
    assert digest == hashlib.sha256(b"x\r\n").hexdigest()
    assert (incoming / "processed" / "beneficiaires_20261123.csv").read_bytes() == b"x\r\n"
    assert (incoming / "processed" / "beneficiaires_20261123.csv.1").read_bytes() == b"again\r\n"
    assert not (incoming / "beneficiaires_20261123.csv").exists()


def test_download_with_a_wrong_sidecar_fails_and_keeps_nothing(
    sshd: SshServer, sftp_root: Path, tmp_path: Path
) -> None:
    (sftp_root / "in").mkdir()
    (sftp_root / "in" / "a.csv").write_bytes(b"content")
    (sftp_root / "in" / "a.csv.sha256").write_text("0" * 64 + "  a.csv\n")
    with sshd.transport(attempts=2) as transport, pytest.raises(TransportError):
        transport.get("in", "a.csv", tmp_path / "a.csv")
    assert list(tmp_path.glob("*a.csv*")) == []
    assert (sftp_root / "in" / "a.csv").exists()


def test_unknown_host_key_is_refused_and_not_retried(
    sshd: SshServer, sftp_root: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    sleeps: list[float] = []
    transport = SftpTransport(
        "127.0.0.1", sshd.port, "root", empty, key_path=sshd.user_key, sleep=sleeps.append
    )
    with pytest.raises(HostKeyError, match="inconnue"):
        transport.list("in")
    assert sleeps == []


def test_changed_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    # A valid ed25519 key that is not the server's.
    wrong = tmp_path / "known_hosts"
    keygen(tmp_path / "k")
    kind, blob = (tmp_path / "k.pub").read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    transport = SftpTransport("127.0.0.1", sshd.port, "root", wrong, key_path=sshd.user_key)
    with pytest.raises(HostKeyError, match="ne correspond pas"):
        transport.list("in")


def test_retry_with_backoff_until_the_server_is_up(
    server_factory: Callable[[int | None], SshServer], tmp_path: Path
) -> None:
    server = server_factory(free_port())
    sleeps: list[float] = []

    def sleep_then_start(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 2:
            server.start()

    local = tmp_path / "f.csv"
    local.write_bytes(b"1;2\r\n")
    transport = server.transport(attempts=4, backoff=0.5, sleep=sleep_then_start)
    with transport:
        transport.put(local, "out")
    assert sleeps == [0.5, 1.0]
    assert (server.root / "out" / "f.csv").read_bytes() == b"1;2\r\n"


def test_gives_up_after_the_last_attempt(tmp_path: Path, sshd: SshServer) -> None:
    sleeps: list[float] = []
    transport = SftpTransport(
        "127.0.0.1",
        free_port(),
        "root",
        sshd.known_hosts,
        key_path=sshd.user_key,
        attempts=3,
        backoff=0.25,
        sleep=sleeps.append,
    )
    with pytest.raises(TransportError, match="3 essais"):
        transport.list("in")
    assert sleeps == [0.25, 0.5]
