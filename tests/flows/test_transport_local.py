"""The local-folder transport keeps the same promises as SFTP; settings are checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flows.settings import FlowsSettings
from kernel.settings import SettingsError
from kernel.transport import (
    LocalFolderTransport,
    SftpTransport,
    TransportError,
    open_transport,
    safe_name,
)


def test_put_list_read_and_processed(tmp_path: Path) -> None:
    local = tmp_path / "prestations_202610.csv"
    local.write_bytes(b"a;b\r\n")
    remote = tmp_path / "remote"
    transport = LocalFolderTransport(remote)
    digest = transport.put(local, "out")
    assert digest == hashlib.sha256(b"a;b\r\n").hexdigest()
    (remote / "out" / ".prestations_202611.csv.part-1234").write_bytes(b"partial")
    assert transport.list("out") == ["prestations_202610.csv"]
    assert transport.read("out", "prestations_202610.csv") == b"a;b\r\n"
    assert transport.mark_processed("out", "prestations_202610.csv") == "prestations_202610.csv"
    assert transport.list("out") == []
    assert (remote / "out" / "processed" / "prestations_202610.csv.sha256").exists()


def test_a_corrupted_file_is_not_read(tmp_path: Path) -> None:
    local = tmp_path / "x.csv"
    local.write_bytes(b"1")
    transport = LocalFolderTransport(tmp_path / "remote", attempts=2, sleep=lambda _: None)
    transport.put(local, "in")
    (tmp_path / "remote" / "in" / "x.csv").write_bytes(b"2")
    with pytest.raises(TransportError, match="somme de contrôle"):
        transport.read("in", "x.csv")
    with pytest.raises(TransportError, match="somme de contrôle"):
        transport.get("in", "x.csv", tmp_path / "copy.csv")
    assert not (tmp_path / "copy.csv").exists()


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../x.csv", "a/b.csv", "a\\b.csv", ".hidden", "x\n.csv"]
)
def test_unsafe_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refusé"):
        safe_name(name)
    with pytest.raises(ValueError):
        LocalFolderTransport(tmp_path).read("in", name)


def test_settings_choose_the_transport_and_refuse_an_incomplete_sftp(tmp_path: Path) -> None:
    local = open_transport(FlowsSettings(), tmp_path)
    assert isinstance(local, LocalFolderTransport)
    assert local.root == tmp_path / "flows" / "remote"
    with pytest.raises(SettingsError, match="known_hosts"):
        open_transport(FlowsSettings(transport="sftp", sftp_host="h", sftp_user="u"), tmp_path)
    with pytest.raises(SettingsError, match="transport"):
        FlowsSettings(transport="ftp").validate()
    known = tmp_path / "known_hosts"
    known.write_text("")
    sftp = open_transport(
        FlowsSettings(transport="sftp", sftp_host="h", sftp_user="u", sftp_known_hosts=known),
        tmp_path,
        env={"TELEGESTION_FLOWS_SFTP_PASSWORD": "from-env"},
    )
    assert isinstance(sftp, SftpTransport)
    with pytest.raises(TransportError, match="ni clé ni mot de passe"):
        open_transport(
            FlowsSettings(transport="sftp", sftp_host="h", sftp_user="u", sftp_known_hosts=known),
            tmp_path,
            env={},
        )
