"""``telegestion archive`` as an operator runs it, on the embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path

from tests.config.test_cli import telegestion


def test_init_run_verify_damage_and_export(tmp_path: Path) -> None:
    demo = telegestion(
        "demo", "--workers", "6", "--beneficiaries", "8", "--days", "60", data_dir=tmp_path
    )
    assert demo.returncode == 0, demo.stderr

    pki = telegestion("archive", "init-pki", data_dir=tmp_path)
    assert pki.returncode == 0, pki.stderr
    assert "ESSAI" in pki.stdout and "pour essai seulement" in pki.stdout
    assert "LISEZ-MOI.txt" in os.listdir(tmp_path / "archive" / "pki")
    again = telegestion("archive", "init-pki", data_dir=tmp_path)
    assert again.returncode == 1 and "existe déjà" in again.stdout
    quiet = telegestion("archive", "init-pki", "--if-missing", data_dir=tmp_path)
    assert quiet.returncode == 0

    bad = telegestion("archive", "run", "--month", "2026-13", data_dir=tmp_path)
    assert bad.returncode == 2 and "AAAA-MM" in bad.stderr

    ran = telegestion("archive", "run", "--month", "2026-10", data_dir=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "États 2026-10 :" in ran.stderr  # progress line
    assert "signé(s)" in ran.stdout

    ok = telegestion("archive", "verify", data_dir=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Archive intègre" in ok.stdout

    victim = sorted((tmp_path / "archive" / "files").rglob("*.pdf"))[0]
    victim.unlink()
    damaged = telegestion("archive", "verify", data_dir=tmp_path)
    assert damaged.returncode == 1
    assert "[missing_file]" in damaged.stdout and str(victim) in damaged.stdout

    export = telegestion("archive", "export", str(tmp_path / "out"), data_dir=tmp_path)
    assert export.returncode == 1  # a missing file is never exported silently
    assert "fichier absent" in export.stderr and victim.name in export.stderr
