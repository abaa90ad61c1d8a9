"""Extranet settings (``[extranet]``) and its secret key, read only from the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kernel.settings import ENV_PREFIX, SettingsError, environ, load_section

SECRET_KEY_ENV = ENV_PREFIX + "EXTRANET_SECRET_KEY"
#: File holding the key generated for the embedded default (SQLite) only.
SECRET_KEY_FILE = "extranet-secret-key"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class ExtranetSettings:
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 4
    #: Send the session cookie only over HTTPS. Browsers treat http://127.0.0.1
    #: and http://localhost as secure, so the embedded default keeps it on.
    secure_cookies: bool = True
    #: Minutes of inactivity after which a session ends.
    session_minutes: int = 480
    #: Failed logins in a row that lock a login (known or not), and for how long.
    max_failed_logins: int = 10
    lockout_minutes: int = 15
    #: Failed logins from one client address within ``lockout_minutes`` that
    #: block every login from it for ``lockout_minutes``.
    max_failed_logins_per_address: int = 50
    #: Reverse proxies in front of the extranet whose X-Forwarded-For, -Proto,
    #: -Host and -Port headers are believed (werkzeug's ProxyFix). 0, the
    #: default, believes none: a client could otherwise pick the address the
    #: login throttle counts. Behind the nginx site of config/nginx: 1.
    trusted_proxies: int = 0
    #: Seconds between two refreshes of the live pages.
    refresh_seconds: int = 20
    #: Seconds a computed statistics page is reused (0: computed at every request; the bench).
    stats_cache_seconds: int = 300
    #: Seconds a new worker may spend, before it takes requests, reading the open
    #: months of each antenna and first using the statistics' code (0: none). No
    #: request is served meanwhile: a restart holds the first requests that long.
    warm_seconds: int = 20
    #: Calls one REST API token may make per minute (``extranet.api``); beyond, 429.
    api_calls_per_minute: int = 120

    def __post_init__(self) -> None:
        if self.workers < 1 or self.threads < 1:
            raise SettingsError("extranet.workers and extranet.threads must be 1 or more")
        if self.max_failed_logins < 1 or self.max_failed_logins_per_address < 1:
            raise SettingsError(
                "extranet.max_failed_logins and max_failed_logins_per_address must be 1 or more"
            )
        if self.lockout_minutes < 1:
            raise SettingsError("extranet.lockout_minutes must be 1 or more")
        if not 0 <= self.trusted_proxies <= 5:
            raise SettingsError("extranet.trusted_proxies must be between 0 and 5")
        if not 5 <= self.refresh_seconds <= 300:
            raise SettingsError("extranet.refresh_seconds must be between 5 and 300")
        if not 0 <= self.stats_cache_seconds <= 3600:
            raise SettingsError("extranet.stats_cache_seconds must be between 0 and 3600")
        if not 0 <= self.warm_seconds <= 50:
            # gunicorn does not time out a worker that has not started: this bounds it.
            raise SettingsError("extranet.warm_seconds must be between 0 and 50")
        if not 1 <= self.api_calls_per_minute <= 100_000:
            raise SettingsError("extranet.api_calls_per_minute must be between 1 and 100000")


def load(env: Mapping[str, str] | None = None) -> ExtranetSettings:
    return load_section(ExtranetSettings, "extranet", env)


def secret_key(data_dir: Path, *, embedded: bool, env: Mapping[str, str] | None = None) -> str:
    """The session signing key.

    Production (a PostgreSQL database) must set TELEGESTION_EXTRANET_SECRET_KEY;
    a missing key is an error. The embedded default may instead keep a key it
    generated in the data directory, readable by its owner only (0600).
    """
    env = environ() if env is None else env
    key = env.get(SECRET_KEY_ENV, "")
    if key:
        if len(key) < 32:
            raise SettingsError(f"{SECRET_KEY_ENV} must be at least 32 characters long")
        return key
    if not embedded:
        raise SettingsError(
            f"{SECRET_KEY_ENV} is not set: the extranet needs a secret key in production"
        )
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    if path.stat().st_mode & 0o077:
        raise SettingsError(f"{path} must be readable by its owner only (chmod 600)")
    return path.read_text().strip()
