"""The WSGI entry point for gunicorn: ``extranet.wsgi:build()`` (called in each worker)."""

from __future__ import annotations

from flask import Flask

from extranet import settings as extranet_settings
from extranet.app import AppConfig, create_app
from extranet.auth import oidc
from kernel import settings as settings_module
from ledger.db import make_engine, make_session_factory


def build() -> Flask:
    core = settings_module.core()
    url = core.effective_database_url
    config = AppConfig(
        session_factory=make_session_factory(make_engine(url)),
        data_dir=core.data_dir.resolve(),
        secret_key=extranet_settings.secret_key(core.data_dir, embedded=url.startswith("sqlite")),
        settings=extranet_settings.load(),
        sso=oidc.load(),
        cutoff=settings_module.closing().cutoff,
        money_rules=settings_module.money().rules,
    )
    return create_app(config)
