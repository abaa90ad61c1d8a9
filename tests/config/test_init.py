"""``telegestion init REFERENCE.toml`` through the real command, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import reference
from extranet.models import Role, User
from extranet.passwords import verify
from ledger.db import make_engine, make_session_factory
from ledger.models import Antenna, AuditEntry, Beneficiary, Funder, Setting
from tests.config.fresh import fresh_database, telegestion

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "exploitation" / "reference-exemple.toml"
PASSWORD = "Une-phrase-de-passe-solide-2026"


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "init") as database_url:
        yield database_url


def _init(path: Path, tmp_path: Path, url: str):  # type: ignore[no-untyped-def]
    return telegestion(
        "init",
        str(path),
        data_dir=tmp_path,
        url=url,
        env={"TELEGESTION_INIT_ADMIN_PASSWORD": PASSWORD},
    )


def _snapshot(url: str) -> dict[str, object]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        snap = {
            "antennas": sorted((a.code, a.name, a.areas) for a in session.scalars(select(Antenna))),
            "funders": sorted(
                (f.code, f.kind.value, f.platform_id, f.departement_code, str(f.service_codes))
                for f in session.scalars(select(Funder))
            ),
            "settings": sorted((s.key, s.value) for s in session.scalars(select(Setting))),
            "audit": session.scalar(select(func.count()).select_from(AuditEntry)),
            "beneficiaries": session.scalar(select(func.count()).select_from(Beneficiary)),
            "users": [(u.login, u.role, u.password_hash) for u in session.scalars(select(User))],
        }
    engine.dispose()
    return snap


def test_the_example_installs_a_real_organisation_once(tmp_path: Path, url: str) -> None:
    first = _init(EXAMPLE, tmp_path, url)
    assert first.returncode == 0, first.stderr
    assert "+ antenne EST" in first.stdout and "+ administrateur admin" in first.stdout
    snap = _snapshot(url)
    assert snap["antennas"] == [
        ("CENTRE", "Paris Centre", "75001,75002,75003,75004"),
        ("EST", "Paris Est", "75011,75019,75020"),
    ]
    assert ("APA75", "APA", "DEP75-APA", "75", "{'APA-AIDE': 'AD01'}") in snap["funders"]
    assert ("organisation.siret", "73282932000074") in snap["settings"]
    assert ("organisation.finess", "750712184") in snap["settings"]
    assert ("prestation.APA-AIDE", "Aide humaine APA") in snap["settings"]
    assert snap["beneficiaries"] == 0  # no demo data
    [(login, role, password_hash)] = snap["users"]  # type: ignore[misc]
    assert login == "admin" and role is Role.ADMIN and verify(password_hash, PASSWORD)

    again = _init(EXAMPLE, tmp_path, url)
    assert again.returncode == 0, again.stderr
    assert "déjà à jour, rien n'a changé" in again.stdout
    assert _snapshot(url) == snap  # not even an audit line


def test_a_changed_file_updates_what_changed(tmp_path: Path, url: str) -> None:
    assert _init(EXAMPLE, tmp_path, url).returncode == 0
    before = _snapshot(url)
    changed = tmp_path / "ref.toml"
    changed.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace('["75011", "75019", "75020"]', '["75011", "75012", "75019", "75020"]')
        .replace('"DEP75-PCH"', '"DEP75-PCH-2"'),
        encoding="utf-8",
    )
    result = _init(changed, tmp_path, url)
    assert result.returncode == 0, result.stderr
    assert "~ antenne EST" in result.stdout and "~ financeur PCH75" in result.stdout
    after = _snapshot(url)
    assert ("EST", "Paris Est", "75011,75012,75019,75020") in after["antennas"]  # type: ignore[operator]
    assert after["users"] == before["users"]  # the administrator is left as it is
    assert after["audit"] == before["audit"] + 2  # type: ignore[operator]


BROKEN = """
[organisation]
nom = "X"
siret = "73282932000075"
finess = "75071218"
couleur = "bleu"

[[antennes]]
code = "est"
nom = "Paris Est"
arrondissements = ["75011", "7501"]

[[antennes]]
code = "NORD"
arrondissements = ["75011"]

[[financeurs]]
code = "APA75"
nom = "APA"
type = "APAA"

[[financeurs]]
code = "CNAV"
nom = "Caisse"
type = "CAISSE"
identifiant_plateforme = "X1"

[administrateur]
nom = "Camille"
"""


def test_a_malformed_file_lists_every_error_and_applies_nothing(tmp_path: Path, url: str) -> None:
    path = tmp_path / "ref.toml"
    path.write_text(BROKEN, encoding="utf-8")
    result = _init(path, tmp_path, url)
    assert result.returncode == 2
    err = result.stderr
    expected = [
        "organisation.couleur : clé inconnue",
        "organisation.siret : '73282932000075' refusé : clé de contrôle du SIRET fausse",
        "organisation.finess : '75071218' refusé : un numéro FINESS a 9 caractères",
        "antennes[1].code : 'est' : majuscules",
        "antennes[1].arrondissements : '7501' n'est pas un code postal",
        "antennes[2].nom : obligatoire",
        "antennes[2].arrondissements : 75011 est déjà couvert par l'antenne est",
        "financeurs[1].type : 'APAA' inconnu",
        "financeurs[2] : seuls les financeurs départementaux",
        "administrateur.identifiant : obligatoire",
    ]
    for line in expected:
        assert line in err, (line, err)
    assert "10 erreur(s)" in err and "rien n'a été appliqué" in err
    # Nothing applied: the command refused before it even migrated.
    assert not (tmp_path / "init.sqlite3").exists() or _snapshot(url)["antennas"] == []


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ref.toml"
    path.write_text('[organisation]\nnom = "X"\nsiret = 732\n[[antennes]\n', encoding="utf-8")
    with pytest.raises(reference.ReferenceError) as refused:
        reference.read(path)
    assert "syntaxe TOML invalide" in str(refused.value) and "line 4" in str(refused.value)


def test_a_weak_password_applies_nothing(tmp_path: Path, url: str) -> None:
    result = telegestion(
        "init",
        str(EXAMPLE),
        data_dir=tmp_path,
        url=url,
        env={"TELEGESTION_INIT_ADMIN_PASSWORD": "admin"},
    )
    assert result.returncode == 2 and "rien n'a été appliqué" in result.stderr
    assert _snapshot(url)["antennas"] == []


@pytest.mark.parametrize(
    ("siret", "ok"),
    [
        ("73282932000074", True),  # INSEE's own example
        ("73282932000075", False),
        ("7328293200007", False),
        ("35600000049837", True),  # La Poste: digit sum multiple of 5
    ],
)
def test_siret_keys(siret: str, ok: bool) -> None:
    assert (reference.siret_problem(siret) is None) is ok


@pytest.mark.parametrize(
    ("finess", "ok"),
    [
        ("750712184", True),  # AP-HP's head office, as the FINESS repository lists it
        ("750712185", False),
        ("75071218", False),
        ("2A0000000", True),  # Corsica: format only (decision 0600)
        ("990000000", False),  # no Département 99
    ],
)
def test_finess_keys(finess: str, ok: bool) -> None:
    assert (reference.finess_problem(finess) is None) is ok
