"""Helpers for the statistics tests: log in, read a page's tables and an export's rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from lxml import html
from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.organisation import load_demo
from extranet.models import Role
from kernel.settings import money
from ledger import closures
from ledger.closing import Cutoff
from ledger.models import Antenna
from ledger.timeutil import Month
from tests.extranet.conftest import add_user, login

#: The kept-figures tests' demo: September and October 2026, "now" the 20th of October.
DEMO_NOW = datetime(2026, 10, 20, 21, 0, tzinfo=UTC)


def demo_with_users(
    session: Session, monkeypatch: pytest.MonkeyPatch, referent: str, manager: str
) -> int:
    """The demo's September and October with a funder's rounding (kept minutes differ from
    the recorded ones), a referent and a manager of the first antenna (its id, returned).
    Not committed."""
    monkeypatch.setenv("TELEGESTION_BILLING_ROUNDING", "APA75=15/nearest/5")
    load_demo(session, seed=7, workers=10, beneficiaries=40, days=50, now=DEMO_NOW)
    add_user(session, referent, Role.CENTRAL_REFERENT)
    antenna = session.scalars(select(Antenna.id).order_by(Antenna.id)).first()
    assert antenna is not None
    add_user(session, manager, Role.ANTENNA_MANAGER, antenna)
    return antenna


def close_month(session: Session, month: Month) -> None:
    """Validate each funder of the month and close it, as a referent would after the
    cutoff, with the environment's rules (as the closing page passes them); committed."""
    rules = money().rules
    now = Cutoff().at(month) + timedelta(minutes=1)
    for key in closures.figures(session, month, rules).digests:
        closures.validate_funder(session, month, key, actor="ref", now=now, rules=rules)
    closures.close_month(session, month, actor="ref", now=now, rules=rules)
    session.commit()


def logged_in(client: FlaskClient, who: str) -> FlaskClient:
    assert login(client, who) == 302
    return client


def page(client: FlaskClient, url: str) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return html.fromstring(response.get_data(as_text=True))


def table(doc: html.HtmlElement, key: str) -> list[list[str]]:
    """The body rows of table ``key``, each cell's text."""
    found = doc.get_element_by_id(key)
    return [
        [" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")]
        for row in found.xpath("./tbody/tr")
    ]


def total(doc: html.HtmlElement, key: str) -> list[str]:
    found = doc.get_element_by_id(key)
    return [" ".join(c.text_content().split()) for c in found.xpath("./tfoot/tr/th|./tfoot/tr/td")]


def csv_sections(data: bytes) -> dict[str, list[list[str]]]:
    """A statistics CSV: its heading under "", then each table's rows (header first) by caption."""
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    sections: dict[str, list[list[str]]] = {"": []}
    current = ""
    fresh = False
    for row in rows:
        if not row:
            fresh = True
            continue
        if fresh:
            current, fresh = row[0], False
            sections[current] = []
            continue
        sections[current].append(row)
    return sections
