from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kernel.settings import SettingsError, load_section


@dataclasses.dataclass(frozen=True)
class Sample:
    host: str = "127.0.0.1"
    port: int = 22
    strict: bool = True
    folder: Path = Path("in")
    key: str | None = None


def test_defaults_then_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "telegestion.toml"
    config.write_text('[sample]\nhost = "sftp.example"\nport = 2222\nfolder = "/data/in"\n')
    monkeypatch.setenv("TELEGESTION_CONFIG", str(config))
    env = {"TELEGESTION_SAMPLE_PORT": "2022", "TELEGESTION_SAMPLE_STRICT": "no"}
    loaded = load_section(Sample, "sample", env)
    assert loaded == Sample(host="sftp.example", port=2022, strict=False, folder=Path("/data/in"))


def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGESTION_CONFIG", raising=False)
    with pytest.raises(SettingsError, match="TELEGESTION_SAMPLE_PORT"):
        load_section(Sample, "sample", {"TELEGESTION_SAMPLE_PORT": "twenty"})
    with pytest.raises(SettingsError, match="boolean"):
        load_section(Sample, "sample", {"TELEGESTION_SAMPLE_STRICT": "maybe"})


def test_optional_empty_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGESTION_CONFIG", raising=False)
    assert load_section(Sample, "sample", {"TELEGESTION_SAMPLE_KEY": ""}).key is None
    assert load_section(Sample, "sample", {"TELEGESTION_SAMPLE_KEY": "k"}).key == "k"
