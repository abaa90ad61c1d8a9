"""Read back a month's outputs as their receivers would: minutes per beneficiary and funder.

Shared by the agreement tests (``test_money_agreement``, ``tests/config/test_month_journey``).
Each reader parses the produced file itself (CSV, ESPPADOM XML, the signed PDF's text through
poppler's ``pdftotext``), never the code that wrote it.
"""

from __future__ import annotations

import csv
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from billing_export.esppadom import read_delivery

Key = tuple[str, str]  # (beneficiary external id, funder code; "" outside any plan)


def service_done(path: Path) -> dict[Key, int]:
    """The service-done file (``prestations_AAAAMM[_vN].csv``)."""
    totals: dict[Key, int] = defaultdict(int)
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            totals[(row["id_beneficiaire"], row["financeur"])] += int(row["minutes_retenues"])
    return dict(totals)


def prebilling(path: Path) -> dict[Key, int]:
    """The pre-billing summary (``prebilling-AAAA-MM[-vN].csv``): kept minutes column."""
    totals: dict[Key, int] = defaultdict(int)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    minutes_col = len(rows[0]) - 2
    for row in rows[1:]:
        totals[(row[1], row[2])] += int(row[minutes_col])
    return dict(totals)


def esppadom_latest(
    paths: Iterable[Path], ben_of_reference: Mapping[str, str]
) -> dict[str, tuple[Key, int, str]]:
    """Each document id's latest declaration across DELIVERY files, in the order given.

    Returns ``{document id: ((beneficiary, funder), minutes, correction code)}``; a
    deletion (SUP) stays, with its code, so that the caller sees it.
    """
    latest: dict[str, tuple[Key, int, str]] = {}
    for path in paths:
        funder = re.search(r"-(?P<funder>[A-Z0-9_]+)-\d{6}-\d{14}\.xml$", path.name)
        assert funder is not None, path.name
        seen: set[str] = set()
        for item in read_delivery(path.read_bytes()):
            # One advice per visit and funder in a file, even for a visit split between plans.
            assert item.document_id not in seen
            seen.add(item.document_id)
            key = (ben_of_reference[item.order_reference], funder.group("funder"))
            latest[item.document_id] = (key, item.minutes, item.adjustment or "")
    return latest


def esppadom_totals(latest: Mapping[str, tuple[Key, int, str]]) -> dict[Key, int]:
    totals: dict[Key, int] = defaultdict(int)
    for key, minutes, code in latest.values():
        if code != "SUP":
            totals[key] += minutes
    return dict(totals)


def statement_pdf(path: Path, code_of_name: Mapping[str, str]) -> dict[str, int]:
    """Minutes per funder code in a signed statement's "Totaux par financeur" section."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    section = text.split("Totaux par financeur et prestation", 1)[1]
    section = section.split("Plan d'aide : heures prévues", 1)[0]
    names = sorted(code_of_name, key=len, reverse=True)
    totals: dict[str, int] = defaultdict(int)
    for line in section.splitlines():
        found = re.search(r"(\d+) h (\d\d)\s*$", line)
        if not found or line.strip().startswith("Total"):
            continue
        minutes = int(found.group(1)) * 60 + int(found.group(2))
        label = line.strip()
        if label.startswith("Hors plan d'aide"):
            code = ""
        else:
            name = next((n for n in names if label.startswith(n)), None)
            assert name is not None, f"funder not recognised in {line!r}"
            code = code_of_name[name]
        totals[code] += minutes
    return dict(totals)
