"""Settings: defaults in code, then a TOML file, then environment variables.

Each package declares its own section as a frozen dataclass (``ivr.settings``,
``flows.settings``...) and loads it with ``load_section``; nothing is read at
import time. Secrets are only ever taken from the environment (or from a file
named by an environment variable), never from the repository.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from ledger.closing import ClosingError, Cutoff
from ledger.money import MoneyRuleError, Rounding, parse_rounding_rules

T = TypeVar("T")

ENV_PREFIX = "TELEGESTION_"


class SettingsError(Exception):
    pass


def environ() -> Mapping[str, str]:
    """The process environment: the one place that reads ``os.environ``.

    Every package asks here (settings, secrets such as the ARI password, the
    SFTP password or the PKCS#12 passphrase), so that a test or a composition
    root can see every variable the service reads in one module.
    """
    return os.environ


@functools.lru_cache(maxsize=8)
def _read_file(path: str, mtime_ns: int) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def _file_values() -> dict[str, Any]:
    """The TOML settings file, read once per process (again only if it changed)."""
    path = environ().get(ENV_PREFIX + "CONFIG")
    if not path:
        return {}
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise SettingsError(f"{ENV_PREFIX}CONFIG: cannot read {path}: {exc.strerror}") from None
    try:
        return _read_file(path, mtime)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{ENV_PREFIX}CONFIG: {path} is not valid TOML: {exc}") from None


def _coerce(raw: str, target: Any, name: str) -> Any:
    origin = typing.get_origin(target)
    args = typing.get_args(target)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        non_none = [a for a in args if a is not type(None)]
        if raw == "" and type(None) in args:
            return None
        target = non_none[0]
    if target is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected a boolean, got {raw!r}")
    if target is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if target is float:
        return float(raw)
    if target is Path:
        return Path(raw)
    return raw


def load_section(cls: type[T], section: str, env: Mapping[str, str] | None = None) -> T:
    """Build ``cls`` from defaults, the file's ``[section]``, then the environment.

    The environment variable of a field is ``TELEGESTION_<SECTION>_<FIELD>``.
    """
    env = environ() if env is None else env
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    file_section = _file_values().get(section, {})
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in file_section:
            value = file_section[field.name]
            values[field.name] = Path(value) if hints[field.name] is Path else value
        env_name = f"{ENV_PREFIX}{section.upper()}_{field.name.upper()}"
        if env_name in env:
            values[field.name] = _coerce(env[env_name], hints[field.name], env_name)
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class CoreSettings:
    """Where data lives and which database to use."""

    data_dir: Path = Path("var")
    #: Empty means the embedded SQLite file in ``data_dir``.
    database_url: str = ""
    organisation_name: str = "Paris Domicile"
    timezone: str = "Europe/Paris"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'telegestion.sqlite3'}"


def core() -> CoreSettings:
    settings = load_section(CoreSettings, "core")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


@dataclasses.dataclass(frozen=True)
class ClosingSettings:
    """The ``[closing]`` section: when a month goes in review (``ledger.closing``)."""

    #: Day of the next month, and Paris time, from which a month is in review.
    cutoff_day: int = 5
    cutoff_hour: int = 23
    cutoff_minute: int = 59

    @property
    def cutoff(self) -> Cutoff:
        try:
            return Cutoff(self.cutoff_day, self.cutoff_hour, self.cutoff_minute)
        except ClosingError as exc:
            raise SettingsError(f"closing: {exc}") from None


def closing() -> ClosingSettings:
    settings = load_section(ClosingSettings, "closing")
    settings.cutoff  # noqa: B018 - a bad cut-off fails at start, not at month end
    return settings


@dataclasses.dataclass(frozen=True)
class MoneySettings:
    """The funders' rounding rules (decision 0502), the same for every output of money.

    Read from ``[billing] rounding`` / ``TELEGESTION_BILLING_ROUNDING``, where
    operators set it: ``"APA75=15/nearest/5, PCH75=30/up"``.
    """

    rounding: str = ""

    @property
    def rules(self) -> dict[str, Rounding]:
        return parse_rounding_rules(self.rounding)


def money() -> MoneySettings:
    settings = load_section(MoneySettings, "billing")
    try:
        settings.rules  # noqa: B018 - fail at start on a bad rule, not at month end
    except MoneyRuleError as exc:
        raise SettingsError(f"billing.rounding: {exc}") from None
    return settings
