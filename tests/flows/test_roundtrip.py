"""Property: a generated day written in the input formats, imported, then written back
from the ledger, gives the same bytes (nothing lost, nothing reinterpreted)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from config.database import create_schema
from flows import snapshot
from flows.formats import BENEFICIARIES, WORKERS, FileFormat
from flows.importer import import_file
from ledger.db import make_session_factory
from ledger.models import Base
from tests.flows.files import render, world

DAY = date(2026, 11, 23)
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâçîïôöùûüÉÈÇÀœŒ'- "


def words(max_size: int) -> st.SearchStrategy[str]:
    return st.text(LETTERS, min_size=1, max_size=max_size).map(str.strip).filter(bool)


dates = st.dates(date(1990, 1, 1), date(2030, 12, 31))
phones = st.builds(
    lambda lead, rest: f"+33{lead}{rest:08d}",
    st.sampled_from("1234569"),
    st.integers(0, 99_999_999),
)


@st.composite
def worker_rows(draw: st.DrawFn, n: int) -> list[dict[str, str]]:
    codes = draw(st.lists(st.integers(1000, 99_999_999), min_size=n, max_size=n, unique=True))
    rows = []
    for i, code in enumerate(codes):
        start = draw(dates)
        end = draw(st.none() | st.dates(start, date(2031, 1, 1)))
        rows.append(
            {
                "id_planning": f"W{i:03d}",
                "civilite": draw(st.sampled_from(["M", "MME"])),
                "nom": draw(words(80)),
                "prenom": draw(words(80)),
                "code_antenne": draw(st.sampled_from(["NORD", "SUD"])),
                "adresse_antenne": "1 rue de Paris",
                "code_telephone": str(code),
                "date_debut": start.isoformat(),
                "date_fin": end.isoformat() if end else "",
                "langue": draw(st.sampled_from(["fr", "pt", "ar", "es", "en"])),
            }
        )
    return rows


@st.composite
def ben_rows(draw: st.DrawFn, n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        care_start = draw(dates)
        care_end = draw(st.none() | st.dates(max(care_start, DAY), date(2031, 1, 1)))
        plan_start = draw(dates)
        plan_end = draw(st.none() | st.dates(plan_start, date(2031, 1, 1)))
        numbers = draw(st.lists(phones, max_size=3, unique=True))
        birth = draw(st.none() | st.dates(date(1910, 1, 1), date(2010, 1, 1)))
        gir = draw(st.none() | st.integers(1, 6))
        cents = draw(st.integers(0, 99_999_99))
        rows.append(
            {
                "id_planning": f"B{i:03d}",
                "civilite": draw(st.sampled_from(["M", "MME"])),
                "nom": draw(words(80)),
                "prenom": draw(words(80)),
                "adresse": draw(words(250)),
                "code_postal": draw(st.from_regex(r"\A[0-9]{5}\Z")),
                "ville": draw(st.just("") | words(80)),
                "date_naissance": birth.isoformat() if birth else "",
                "code_antenne": draw(st.sampled_from(["NORD", "SUD"])),
                "date_debut_prise_en_charge": care_start.isoformat(),
                "date_fin_prise_en_charge": care_end.isoformat() if care_end else "",
                "gir": "" if gir is None else str(gir),
                "telephone_1": (numbers + ["", "", ""])[0],
                "telephone_2": (numbers + ["", "", ""])[1],
                "telephone_3": (numbers + ["", "", ""])[2],
                "code_financeur": draw(st.sampled_from(["APA75", "CNAV"])),
                "reference_plan": draw(st.just("") | words(60)),
                "date_debut_plan": plan_start.isoformat(),
                "date_fin_plan": plan_end.isoformat() if plan_end else "",
                "heures_max": snapshot.format_hours(cents / 100),
                "code_prestation": draw(st.sampled_from(["AIDE", "PCH-AIDE", "MENAGE"])),
                "sexe": draw(st.sampled_from(["", "F", "M"])),
            }
        )
    return rows


@st.composite
def days(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    return draw(worker_rows(draw(st.integers(1, 6)))), draw(ben_rows(draw(st.integers(1, 6))))


def reset(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        Base.metadata.drop_all(engine)
        create_schema(engine)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(day=days(), encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_import_then_write_back_reproduces_the_day(
    engine: Engine,
    tmp_path: Path,
    day: tuple[list[dict[str, str]], list[dict[str, str]]],
    encoding: str,
) -> None:
    reset(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        world(session)
    workers, bens = day
    sent = tmp_path / "sent"
    sent.mkdir(exist_ok=True)
    w_path = sent / "intervenants_20261123.csv"
    w_path.write_bytes(render(WORKERS, workers, encoding=encoding))
    b_path = sent / "beneficiaires_20261123.csv"
    b_path.write_bytes(render(BENEFICIARIES, bens, encoding=encoding))
    for path in (w_path, b_path):
        report = import_file(factory, path, tmp_path / "data")
        assert report.rejected == 0 and not report.refused, report.reject_path and (
            report.reject_path.read_text()
        )
    back = tmp_path / "back"
    with factory() as session:
        w_back = snapshot.write_workers(session, back, DAY).path
        b_back = snapshot.write_beneficiaries(session, back, DAY - timedelta(days=0)).path
    assert w_back.read_bytes() == render(WORKERS, as_text(WORKERS, workers))
    assert b_back.read_bytes() == render(BENEFICIARIES, as_text(BENEFICIARIES, bens))


def as_text(fmt: FileFormat, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """What comes back: the same, but a free-text value that a spreadsheet would
    take for a formula gets a leading apostrophe (of LETTERS, only "-" starts one)."""
    text = {f.name for f in fmt.fields if f.kind == "text"}
    return [
        {k: "'" + v if k in text and v.startswith("-") else v for k, v in row.items()}
        for row in rows
    ]


def test_format_hours() -> None:
    assert [snapshot.format_hours(h) for h in (40.0, 45.5, 0.25, 0.0)] == [
        "40",
        "45.5",
        "0.25",
        "0",
    ]


def test_a_workers_file_without_the_language_column_still_loads(
    engine: Engine, tmp_path: Path
) -> None:
    """``langue`` came later: a planning export without it loads, every worker in French."""
    from ledger.models import Worker

    reset(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        world(session)
    row = {"id_planning": "W001", "civilite": "MME", "nom": "Silva", "prenom": "Ana",
           "code_antenne": "NORD", "adresse_antenne": "", "code_telephone": "4711",
           "date_debut": "2026-01-01", "date_fin": ""}  # fmt: skip
    older = render(WORKERS, [row])
    assert b"langue" not in older
    path = tmp_path / "intervenants_20261123.csv"
    path.write_bytes(older)
    report = import_file(factory, path, tmp_path / "data")
    assert report.rejected == 0 and not report.refused
    path_2 = tmp_path / "intervenants_20261124.csv"
    path_2.write_bytes(render(WORKERS, [{**row, "langue": "pt"}]))
    assert import_file(factory, path_2, tmp_path / "data").rejected == 0
    with factory() as session:
        assert session.scalars(select(Worker.language)).one() == "pt"
