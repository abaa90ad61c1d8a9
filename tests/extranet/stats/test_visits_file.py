"""State 0's files list every visit once, with the kept minutes the ledger kept.

The drill-down's year is 540,000 rows: its files are built the cheap way (named
tuples, batched reads, fields quoted once per distinct value, our XLSX writer).
These tests read the files back and check them against the database itself: the
visits in the period, each once and in order, the closed month's minutes from the
kept figures row by row, the total, and the CSV and the XLSX cell for cell. A
minute or a row off fails.
"""

from __future__ import annotations

import io
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from extranet.stats import states
from kernel.settings import money
from ledger import figures
from ledger.models import Antenna, MonthVisitFigure, Visit, VisitStatus
from ledger.timeutil import Month
from tests.extranet.conftest import login, make_app
from tests.extranet.stats.conftest import close_month, csv_sections, demo_with_users

SEPTEMBER = Month(2026, 9)
QUERIES = ("periode=annee&annee=2026", "periode=dates&du=2026-09-10&au=2026-10-12")
HEADER = "Intervention"


def _close_september(session: Session) -> None:
    close_month(session, SEPTEMBER)
    assert figures.kept_months(session, [SEPTEMBER], money().rules) == {SEPTEMBER}


@pytest.fixture
def closed_demo(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The demo's September and October, September closed, a manager and a referent."""
    demo_with_users(session, monkeypatch, "referent-file", "manager-file")
    session.commit()
    _close_september(session)
    return session


def _day(text: str) -> date:
    d, m, y = text.split("/")
    return date(int(y), int(m), int(d))


@pytest.mark.slow
def test_visit_files_list_every_visit_once_with_its_kept_minutes(
    closed_demo: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = closed_demo
    app = make_app(session_factory, data_dir, stats_cache_seconds=0)
    antenna = session.scalars(select(Antenna.id).order_by(Antenna.id)).first()
    kept = {
        vid: minutes
        for vid, minutes in session.execute(
            select(MonthVisitFigure.visit_id, MonthVisitFigure.kept_minutes)
        )
    }
    assert kept and len(set(kept.values())) > 1
    monkeypatch.setattr(states, "PDF_VISITS", 5)
    for who, antennas in (("referent-file", None), ("manager-file", antenna)):
        with app.test_client() as client:
            assert login(client, who) == 302
            for query in QUERIES:
                first, last = (
                    (date(2026, 1, 1), date(2026, 12, 31))
                    if "annee" in query
                    else (date(2026, 9, 10), date(2026, 10, 12))
                )
                wanted = select(Visit.id).where(
                    Visit.service_date >= first,
                    Visit.service_date <= last,
                    Visit.status != VisitStatus.DELETED,
                )
                if antennas is not None:
                    wanted = wanted.where(Visit.antenna_id == antennas)
                expected = list(
                    session.scalars(wanted.order_by(Visit.service_date, Visit.started_at, Visit.id))
                )
                answer = client.get(f"/statistiques/interventions.csv?{query}")
                assert answer.status_code == 200
                (caption,) = [c for c in csv_sections(answer.get_data()) if c.startswith("Inter")]
                header, *rows, total = csv_sections(answer.get_data())[caption]
                assert header[0] == HEADER and total[0] == "Total"
                # Every visit, once, in order: none dropped, none doubled.
                assert [int(r[0]) for r in rows] == expected, (who, query)
                assert f": {len(expected)} (" in caption
                minutes = [int(r[8]) if r[8] else None for r in rows]
                # The closed month's minutes are the kept figures, row by row.
                closed = [
                    (m, kept.get(int(r[0])))
                    for r, m in zip(rows, minutes, strict=True)
                    if SEPTEMBER.first_day <= _day(r[1]) <= SEPTEMBER.last_day
                ]
                assert any(k is not None for _m, k in closed)
                assert all(m == k for m, k in closed), (who, query)  # none: not counted
                assert int(total[8]) == sum(m or 0 for m in minutes)
                # The XLSX holds the same rows, typed.
                xlsx = client.get(f"/statistiques/interventions.xlsx?{query}")
                assert xlsx.status_code == 200
                sheet = load_workbook(io.BytesIO(xlsx.get_data())).worksheets[0]
                cells = list(sheet.iter_rows(values_only=True))
                start = next(i for i, r in enumerate(cells) if r[0] == HEADER) + 1
                listed = cells[start:]
                assert len(listed) == len(rows) + 1
                for line, typed in zip(rows, listed, strict=False):
                    assert typed[0] == int(line[0])
                    assert typed[1] == datetime.combine(_day(line[1]), datetime.min.time())
                    assert list(typed[2:8]) == line[2:8]
                    assert typed[8] == (int(line[8]) if line[8] else None)
                    assert typed[9] == line[9]
                assert listed[-1][8] == int(total[8])
                # The PDF: the first rows, the total over all, and where the others are.
                pdf = client.get(f"/statistiques/interventions.pdf?{query}")
                assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
                path = tmp_path / "etat0.pdf"
                path.write_bytes(pdf.get_data())
                text = subprocess.run(
                    ["pdftotext", "-layout", str(path), "-"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                # Its caption's count and its total are over every visit: the PDF's
                # report holds only the rows it lists, the others counted by SQL.
                words = text.split()
                assert (
                    caption.split()
                    == words[words.index("Interventions,") :][: len(caption.split())]
                )
                assert words[words.index("Total") + 1 :].count(total[8]) == 1
                if len(rows) > 5:
                    in_all = f"{len(rows):,}".replace(",", " ")
                    assert f"les 5 premières lignes sur {in_all} ;" in " ".join(words)
                    assert "Ce PDF liste les 5 premières lignes sur" in text
                    assert "CSV et XLSX de cet état contiennent toutes les lignes" in text
                    assert rows[5][0] not in text.split()
                    assert rows[4][0] in text.split()


def test_only_the_drill_down_cuts_its_pdf() -> None:
    """State 1's list of beneficiaries (funders ask for it whole) and every other state's
    tables are printed whole: only state 0 sets a PDF limit."""
    import inspect

    sources = inspect.getsource(states)
    assert sources.count("pdf_limit=") == 1
    (drill_down,) = [f for f in sources.split("\ndef ") if f.startswith("_visits(")]
    assert "pdf_limit=PDF_VISITS" in drill_down


TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@pytest.mark.slow
def test_files_asked_at_once_all_answer(
    closed_demo: Session, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    """Twelve exports at once (states 0 and 1, each format, two users, each in a thread of
    its own as under a threaded server): every answer 200, whole, of its type."""
    from concurrent.futures import ThreadPoolExecutor

    app = make_app(session_factory, data_dir, stats_cache_seconds=0)
    jobs = [
        (who, f"/statistiques/{slug}.{fmt}?{QUERIES[0]}")
        for who in ("referent-file", "manager-file")
        for slug in ("interventions", "beneficiaires")
        for fmt in TYPES
    ]

    def fetch(job: tuple[str, str]) -> tuple[str, int, str, bytes]:
        who, url = job
        with app.test_client() as client:
            assert login(client, who) == 302
            answer = client.get(url)
            return url, answer.status_code, answer.headers["Content-Type"], answer.get_data()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(fetch, jobs))
    for url, status, kind, body in answers:
        assert status == 200, url
        assert kind == TYPES[url.split("?")[0].rsplit(".", 1)[1]], url
        assert body[:4] in (b"\xef\xbb\xbfO", b"PK\x03\x04", b"%PDF"), url


def _visit_rows(client: object, query: str) -> tuple[str, list[list[str]]]:
    answer = client.get(f"/statistiques/interventions.csv?{query}")  # type: ignore[attr-defined]
    assert answer.status_code == 200
    sections = csv_sections(answer.get_data())
    (caption,) = [c for c in sections if c.startswith("Inter")]
    return caption, sections[caption]


@pytest.mark.slow
def test_a_closed_months_rows_are_those_its_allocation_gives(
    closed_demo: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A closed month's minutes and split come with its visits from the kept figures
    (``kept.visit_shares``), the open months' from the ledger's allocation: the same
    rows, split texts included, as the allocation of every month gives, with and without
    a funder filter (the kept minutes are then that funder's). A worker's rows (computed
    live) are the rows of the whole file that name them."""
    session = closed_demo
    app = make_app(session_factory, data_dir, stats_cache_seconds=0)
    codes = sorted(
        {
            code
            for (code,) in session.execute(
                select(MonthVisitFigure.funder_code).where(MonthVisitFigure.plan_id.is_not(None))
            )
        }
    )
    assert codes
    queries = [
        q + extra for q in QUERIES for extra in ("", *(f"&financeur={code}" for code in codes))
    ]
    with app.test_client() as client:
        assert login(client, "referent-file") == 302
        kept_files = {q: _visit_rows(client, q) for q in queries}
        live_split = states.kept.split_months

        def all_live(ctx: states.Context) -> tuple[list[Month], set[Month]]:
            return live_split(ctx)[0], set()

        with monkeypatch.context() as patch:
            patch.setattr(states.kept, "split_months", all_live)
            for q in queries:
                assert _visit_rows(client, q) == kept_files[q], q
        caption, (header, *rows, _total) = kept_files[QUERIES[0]]
        assert any(" | " in r[9] for r in rows) and any(r[9] == "Non comptée" for r in rows)
        closed = [r for r in rows if _day(r[1]).month == SEPTEMBER.month]
        assert closed and any(r[8] for r in closed)
        worker_name = rows[0][4]
        worker_id = session.scalar(select(Visit.worker_id).where(Visit.id == int(rows[0][0])))
        _c, (_h, *theirs, _t) = _visit_rows(client, f"{QUERIES[0]}&intervenant={worker_id}")
        assert theirs == [r for r in rows if r[4] == worker_name]
