"""REST API fixtures: tokens of every kind over the extranet's two-antenna scenario."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from extranet.api import tokens
from tests.extranet.conftest import NOW, Scenario, make_app


@dataclass(frozen=True)
class Tokens:
    """Secrets (``tg_...``) by kind."""

    #: Every antenna, read and write.
    central: str
    #: Antenna A only, read and write.
    writer_a: str
    #: Antenna A only, read only.
    reader_a: str
    #: Antenna B, read and write, revoked.
    revoked: str


def issue(session: Session, name: str, *, write: bool, antenna_id: int | None) -> str:
    secret = tokens.create(
        session, "admin", name=name, write=write, antenna_id=antenna_id, now=NOW
    ).secret
    session.commit()
    return secret


@pytest.fixture
def api_tokens(session: Session, scenario: Scenario) -> Tokens:
    central = issue(session, "Entrepôt de données", write=True, antenna_id=None)
    writer_a = issue(session, "Planning NORD", write=True, antenna_id=scenario.a.antenna.id)
    reader_a = issue(session, "Paie NORD", write=False, antenna_id=scenario.a.antenna.id)
    revoked = issue(session, "Ancien SUD", write=True, antenna_id=scenario.b.antenna.id)
    found = tokens.find(session, revoked)
    assert found is not None
    tokens.revoke(session, "admin", found, now=NOW)
    session.commit()
    return Tokens(central, writer_a, reader_a, revoked)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def limitless_app(session_factory: sessionmaker[Session], data_dir: Path) -> Flask:
    """The app with a rate limit no test run reaches (429 has its own test)."""
    return make_app(session_factory, data_dir, api_calls_per_minute=100_000)
