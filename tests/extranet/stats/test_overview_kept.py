"""The statistics overview reads a closed month's hours from the kept sums and its rate of
incomplete calls from the kept counts, with the same result.

``/statistiques`` shows the hours by antenna and by funder of the last six
months. Before the close every month is allocated live (once for both tables);
after it the closed month is read from the sums the ledger kept
(``ledger.figures``) and not allocated again; after a reopen it is live again.
The page is the same at each step, for a referent and for a manager.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from extranet.stats import queries
from kernel.settings import money
from ledger import figures
from ledger.money import Rounding
from ledger.timeutil import Month
from tests import factories
from tests.extranet.conftest import login, make_app
from tests.extranet.stats.conftest import close_month, demo_with_users, page

SEPTEMBER, OCTOBER = Month(2026, 9), Month(2026, 10)
USERS = ("referent-overview", "manager-overview")


def _overview(app: Flask, who: str) -> list[list[list[str]]]:
    """The overview's three tables (hours by antenna, by funder, rates), each cell's text."""
    with app.test_client() as client:
        assert login(client, who) == 302
        doc = page(client, "/statistiques")
    return [
        [
            [" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")]
            for row in found.xpath("./tbody/tr")
        ]
        for found in doc.xpath("//table")
    ]


def test_overview_reads_closed_months_from_kept_sums_as_computed_live(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo_with_users(session, monkeypatch, *USERS)
    session.commit()
    app = make_app(session_factory, data_dir, stats_cache_seconds=0)

    allocated: Counter[Month] = Counter()
    allocate = queries.month_billing

    def counting(
        session: Session,
        month: Month,
        rules: dict[str, Rounding] | None,
        antennas: Collection[int] | None,
    ) -> Any:
        allocated[month] += 1
        return allocate(session, month, rules, antennas)

    monkeypatch.setattr(queries, "month_billing", counting)
    # The months whose rate of incomplete calls is counted live.
    counted: Counter[Month] = Counter()
    count_live = queries._live_visit_counts

    def counting_rates(
        session: Session, user: Any, months: list[Month], first: Any, last: Any
    ) -> Any:
        counted.update(months)
        return count_live(session, user, months, first, last)

    monkeypatch.setattr(queries, "_live_visit_counts", counting_rates)

    def read() -> dict[str, list[list[list[str]]]]:
        allocated.clear()
        counted.clear()
        return {who: _overview(app, who) for who in USERS}

    live = read()
    # Each month of the six allocated once per page (not once per table).
    assert allocated[SEPTEMBER] == allocated[OCTOBER] == len(USERS)
    assert counted[SEPTEMBER] == counted[OCTOBER] == len(USERS)
    by_antenna, by_funder, rates = live[USERS[0]]
    assert len(by_antenna) > 1 and len(by_funder) > 1  # the demo's antennas and funders
    # Some incomplete calls in September (its column), and not in every antenna alike.
    assert len({row[4] for row in rates}) > 1
    # June to November: September is the fourth month, hours there in both tables.
    assert any(row[4] != "—" for row in by_antenna) and any(row[4] != "—" for row in by_funder)
    assert len(live[USERS[1]][0]) == 1  # the manager's antenna only

    close_month(session, SEPTEMBER)
    assert figures.kept_months(session, [SEPTEMBER, OCTOBER], money().rules) == {SEPTEMBER}
    assert read() == live
    assert allocated[SEPTEMBER] == 0  # read from the kept sums
    assert allocated[OCTOBER] == len(USERS)
    assert counted[SEPTEMBER] == 0  # read from the kept counts
    assert counted[OCTOBER] == len(USERS)

    factories.reopen_month(session, SEPTEMBER)
    assert read() == live
    assert allocated[SEPTEMBER] == len(USERS)
    assert counted[SEPTEMBER] == len(USERS)
