"""Schema creation and Alembic migrations for every package's models.

Each package keeps its own Alembic branch in ``<package>/migrations``; this
module knows them all, because ``config`` is the composition root and
``ledger`` must import no other package.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from ledger.models import Base

#: Packages with models, in dependency order.
MODEL_PACKAGES = ("ledger", "extranet", "flows", "archive", "billing_export", "ivr")

ROOT = Path(__file__).resolve().parent.parent


#: Model modules that are not ``<package>.models``.
EXTRA_MODEL_MODULES = ("kernel.runs", "kernel.alerts", "kernel.leader")


def import_all_models() -> None:
    for module in (*EXTRA_MODEL_MODULES, *(f"{p}.models" for p in MODEL_PACKAGES)):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def create_schema(engine: Engine) -> None:
    """Create every table directly (tests); production uses ``migrate``."""
    import_all_models()
    Base.metadata.create_all(engine)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "config" / "migrations"))
    locations = [
        str(ROOT / package / "migrations")
        for package in MODEL_PACKAGES
        if (ROOT / package / "migrations").is_dir()
    ]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
