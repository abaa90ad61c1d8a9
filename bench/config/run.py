"""Backup and export benchmark on the demo organisation (embedded SQLite).

    .venv/bin/python -m bench.config.run [--beneficiaries 2100] [--days 30]

Loads the demo into a temporary data directory, then prints, for the same
database in the same run:
  * backup: ``config.backup.make_backup`` (SQLite online backup, table hashes,
    data files, manifest) against a baseline of a bare ``shutil.copyfile`` of
    the database file (the storage ceiling);
  * verify: ``config.backup.check`` of the folder (every SHA-256 again);
  * export-all: ``config.export_all.export_all`` (every table as CSV, archive
    export, flow files, documentation), against a baseline of one
    ``SELECT *`` of every table with no writing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from config import backup, export_all
from config.database import create_schema, import_all_models
from demo.organisation import load_demo
from kernel.settings import CoreSettings
from ledger.db import make_engine, make_session_factory
from ledger.models import Base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beneficiaries", type=int, default=2100)
    parser.add_argument("--workers", type=int, default=330)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir()
        db = data_dir / "telegestion.sqlite3"
        url = f"sqlite:///{db}"
        engine = make_engine(url)
        create_schema(engine)
        with make_session_factory(engine)() as session:
            load_demo(
                session, workers=args.workers, beneficiaries=args.beneficiaries, days=args.days
            )
            session.commit()
        size = db.stat().st_size / 1e6
        print(f"demo: {args.beneficiaries} beneficiaries, {args.days} days, {size:.1f} MB")

        started = time.perf_counter()
        shutil.copyfile(db, Path(tmp) / "copy.sqlite3")
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        made = backup.make_backup(url, data_dir, backup.BackupSettings(dir=str(Path(tmp) / "b")))
        seconds = time.perf_counter() - started
        print(
            f"backup: {seconds:.2f} s for {made.rows} rows in {made.tables} tables "
            f"(baseline file copy {baseline:.2f} s, ratio {seconds / max(baseline, 1e-9):.0f}x)"
        )
        started = time.perf_counter()
        backup.check(made.folder)
        print(f"check: {time.perf_counter() - started:.2f} s ({made.files} files hashed)")

        import_all_models()
        started = time.perf_counter()
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for _ in conn.execute(select(table)).yield_per(2000):
                    pass
        baseline = time.perf_counter() - started
        core = CoreSettings(data_dir=data_dir, database_url=url)
        started = time.perf_counter()
        with make_session_factory(engine)() as session:
            result = export_all.export_all(engine, session, core, Path(tmp) / "export")
        seconds = time.perf_counter() - started
        print(
            f"export-all: {seconds:.2f} s, {sum(result.rows.values())} rows, {result.files} files "
            f"(baseline read of every table {baseline:.2f} s)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
