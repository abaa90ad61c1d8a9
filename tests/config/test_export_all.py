"""``telegestion export-all FOLDER`` through the real command: every table, counts, schema."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from config.database import import_all_models
from ledger.db import make_engine
from ledger.models import Base
from tests.config.fresh import fresh_database, telegestion
from tests.config.test_backup import load_small_month


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("export")
    data_dir = root / "var"
    data_dir.mkdir()
    with fresh_database(root, "export") as url:
        assert telegestion("migrate", data_dir=data_dir, url=url).returncode == 0
        load_small_month(data_dir, url)
        engine = make_engine(url)
        with engine.begin() as conn:  # a name a spreadsheet would run as a formula
            conn.execute(
                text("UPDATE beneficiaries SET last_name = '=HYPERLINK(\"x\")' WHERE id = 1")
            )
        engine.dispose()
        result = telegestion("export-all", str(root / "out"), data_dir=data_dir, url=url)
        assert result.returncode == 0, result.stderr
        assert "Export complet" in result.stdout
        yield root / "out", url


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter=";"))


def test_every_table_is_exported_with_its_row_count(exported: tuple[Path, str]) -> None:
    folder, url = exported
    import_all_models()
    engine = make_engine(url)
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            path = folder / "tables" / f"{table.name}.csv"
            assert path.is_file(), f"table {table.name} left out"
            header, *rows = _rows(path)
            assert header == [c.name for c in table.columns]
            assert len(rows) == conn.scalar(select(func.count()).select_from(table)), table.name
    engine.dispose()
    exported_tables = {p.stem for p in (folder / "tables").glob("*.csv")} - {"schema"}
    assert exported_tables == {t.name for t in Base.metadata.sorted_tables}


def test_the_schema_documents_every_column(exported: tuple[Path, str]) -> None:
    folder, _ = exported
    header, *rows = _rows(folder / "tables" / "schema.csv")
    assert header[:2] == ["table", "colonne"]
    documented = {(r[0], r[1]) for r in rows}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            assert (table.name, column.name) in documented
    meaning = {(r[0], r[1]): r[5] for r in rows}
    # From the model's own #: comment (ledger.models.Antenna.areas).
    assert meaning[("antennas", "areas")].startswith("Arrondissements or communes covered")
    assert meaning[("visits", "antenna_id")].startswith("renvoie à antennas.id")
    assert "valeurs : " in meaning[("visits", "status")]  # an enum lists its values
    assert meaning[("workers", "external_id")] == "identifiant dans le logiciel de planification"
    assert "## call_events" in (folder / "tables" / "SCHEMA.md").read_text()


def test_cells_are_safe_and_the_archive_flows_and_docs_are_there(
    exported: tuple[Path, str],
) -> None:
    folder, _ = exported
    header, *rows = _rows(folder / "tables" / "beneficiaries.csv")
    last_names = [row[header.index("last_name")] for row in rows]
    assert '\'=HYPERLINK("x")' in last_names
    assert next((folder / "archive").glob("*.xml"), None) is not None  # SEDA manifest
    assert list((folder / "archive" / "content").iterdir())
    assert (folder / "flux" / "flows" / "inbox" / "intervenants_20261201.csv").is_file()
    assert (folder / "documentation" / "architecture.md").is_file()
    assert "audit_journal" in (folder / "LISEZMOI.md").read_text()
    check = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with fresh_database(tmp_path, "refuse") as url:
        result = telegestion("export-all", str(tmp_path / "out"), data_dir=tmp_path, url=url)
    assert result.returncode == 1 and "n'est pas vide" in result.stderr
