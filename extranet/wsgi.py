"""The WSGI entry point for gunicorn: ``extranet.wsgi:build()`` (called in each worker).

Each worker is warmed (``extranet.stats.warm``) before it takes requests.
"""

from __future__ import annotations

import logging

from flask import Flask

from extranet import settings as extranet_settings
from extranet.app import AppConfig, create_app
from extranet.auth import oidc
from extranet.stats.warm import warm
from kernel import settings as settings_module
from ledger.collector import freeze_survivors
from ledger.db import make_engine, make_session_factory


def build() -> Flask:
    # gunicorn sets up its own loggers only, and Python's last resort shows WARNING and
    # up: the application's INFO lines (logins and CSRF refused, the warming) were lost.
    # They go to the error stream, as the commands' do (config.cli).
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
    )
    core = settings_module.core()
    url = core.effective_database_url
    extranet = extranet_settings.load()
    config = AppConfig(
        session_factory=make_session_factory(make_engine(url)),
        data_dir=core.data_dir.resolve(),
        secret_key=extranet_settings.secret_key(core.data_dir, embedded=url.startswith("sqlite")),
        settings=extranet,
        sso=oidc.load(),
        cutoff=settings_module.closing().cutoff,
        money_rules=settings_module.money().rules,
    )
    app = create_app(config)
    if extranet.warm_seconds:
        warm(app, extranet.warm_seconds)
        # Outside ``warm``: its session and request context are gone by now, not frozen.
        freeze_survivors()
    return app
