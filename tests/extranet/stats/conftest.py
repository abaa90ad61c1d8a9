"""Helpers for the statistics tests: log in, read a page's tables and an export's rows."""

from __future__ import annotations

import csv
import io

from flask.testing import FlaskClient
from lxml import html

from tests.extranet.conftest import login


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
