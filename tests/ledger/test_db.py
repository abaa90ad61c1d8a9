"""The ledger's PostgreSQL sessions: the settings ``ledger.db.make_engine`` gives them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.db import make_engine
from tests.conftest import PG_URL


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's session settings")
def test_sessions_name_utc_and_compile_nothing_just_in_time() -> None:
    engine = make_engine(PG_URL)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW TimeZone")) == "UTC"
            assert connection.scalar(text("SHOW jit")) == "off"
    finally:
        engine.dispose()
