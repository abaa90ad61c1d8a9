"""``telegestion archive`` as an operator runs it, on the embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archive.pki import init_pki, pki_paths
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
    assert "États 2026-10" not in ran.stderr  # no progress bar when not on a terminal
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


def _third_party_env(tmp_path: Path) -> dict[str, str]:
    """No installation: an empty data dir and a database that answers nothing."""
    empty = tmp_path / "tiers"
    empty.mkdir()
    return {
        **os.environ,
        "TELEGESTION_CORE_DATA_DIR": str(empty),
        # Any attempt to reach a database would fail loudly on this closed port.
        "TELEGESTION_CORE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
    }


def test_one_statement_verifies_offline_with_only_the_published_anchor(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for args in (
        ("demo", "--workers", "6", "--beneficiaries", "8", "--days", "60"),
        ("archive", "init-pki"),
        ("archive", "run", "--month", "2026-10"),
        ("archive", "export", str(tmp_path / "export")),
    ):
        done = telegestion(*args, data_dir=site)
        assert done.returncode == 0, done.stdout + done.stderr
    # What a funder receives: one PDF, and the organisation's published CA certificate.
    received = tmp_path / "recu"
    received.mkdir()
    statement = received / "etat.pdf"
    statement.write_bytes(sorted((tmp_path / "export" / "content").glob("*.pdf"))[0].read_bytes())
    anchor = received / "ac.pem"
    anchor.write_bytes((tmp_path / "export" / "trust" / "ca.pem").read_bytes())
    env = _third_party_env(tmp_path)

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "config.cli", "archive", "verify", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    now = verify(str(statement), "--trust", str(anchor))
    assert now.returncode == 0, now.stdout + now.stderr
    assert "VALIDE" in now.stdout and "heure de Paris" in now.stdout
    later = (datetime.now(UTC) + timedelta(days=365 * 10 + 5)).date().isoformat()
    ten_years = verify(str(statement), "--trust", str(anchor), "--as-of", later)
    assert ten_years.returncode == 0, ten_years.stdout + ten_years.stderr
    assert f"VALIDE au {later}" in ten_years.stdout

    damaged = received / "etat-modifie.pdf"
    data = bytearray(statement.read_bytes())
    data[2000] ^= 0x01  # inside the signed range
    damaged.write_bytes(bytes(data))
    refused = verify(str(damaged), "--trust", str(anchor))
    assert refused.returncode == 1 and "INVALIDE" in refused.stdout
    stranger = tmp_path / "autre"
    init_pki(stranger, "Une autre organisation")
    foreign = verify(str(statement), "--trust", str(pki_paths(stranger).ca_cert))
    assert foreign.returncode == 1 and "INVALIDE" in foreign.stdout
    no_anchor = verify(str(statement), "--trust", str(received / "absent"))
    assert no_anchor.returncode == 2

    # The documented third-party commands (docs/architecture/archive.md).
    pyhanko = Path(sys.executable).with_name("pyhanko")
    ades = [str(pyhanko), "sign", "adesverify", "--trust", str(anchor), "--trust-replace"]
    ok = subprocess.run(
        [*ades, "--executive-summary", str(statement)], capture_output=True, text=True
    )
    assert ok.returncode == 0 and ":VALID" in ok.stdout, ok.stdout + ok.stderr
    bad = subprocess.run(
        [*ades, "--executive-summary", str(damaged)], capture_output=True, text=True
    )
    assert bad.returncode != 0 and ":INVALID" in bad.stdout
    sig = subprocess.run(["pdfsig", "-no-ocsp", str(statement)], capture_output=True, text=True)
    assert "Signature Field Name: CachetOrganisation" in sig.stdout
    assert sig.stdout.count("Signature Validation: Signature is Valid.") == 1
    sig_bad = subprocess.run(["pdfsig", "-no-ocsp", str(damaged)], capture_output=True, text=True)
    assert "Signature is Valid." not in sig_bad.stdout and "Digest Mismatch" in sig_bad.stdout
