"""Builders of input files and of a small organisation for the flows tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from flows.formats import BENEFICIARIES, PLANNED, WORKERS, FileFormat
from ledger.models import Antenna, FunderKind
from tests import factories

DAY1 = "20261123"
DAY2 = "20261124"


def worker_row(ext: str = "INT001", **kw: str) -> dict[str, str]:
    row = {
        "id_planning": ext,
        "civilite": "MME",
        "nom": "Durand",
        "prenom": "Sophie",
        "code_antenne": "NORD",
        "adresse_antenne": "",
        "code_telephone": "4" + ext[-3:],
        "date_debut": "2026-01-05",
        "date_fin": "",
    }
    row.update(kw)
    return row


def ben_row(ext: str = "BEN001", **kw: str) -> dict[str, str]:
    row = {
        "id_planning": ext,
        "civilite": "M",
        "nom": "Martin",
        "prenom": "Jean",
        "adresse": "12 rue Oberkampf",
        "code_postal": "75011",
        "ville": "Paris",
        "date_naissance": "1938-04-02",
        "code_antenne": "NORD",
        "date_debut_prise_en_charge": "2026-01-01",
        "date_fin_prise_en_charge": "",
        "gir": "3",
        "telephone_1": "01 45 67 89 01",
        "telephone_2": "",
        "telephone_3": "",
        "code_financeur": "APA75",
        "reference_plan": "PLAN-1",
        "date_debut_plan": "2026-01-01",
        "date_fin_plan": "",
        "heures_max": "40",
        "code_prestation": "AIDE",
        "sexe": "",
    }
    row.update(kw)
    return row


def planned_row(ext: str = "PV001", **kw: str) -> dict[str, str]:
    row = {
        "id_planning": ext,
        "id_intervenant": "INT001",
        "id_beneficiaire": "BEN001",
        "debut": "2026-11-24 09:00",
        "fin": "2026-11-24 10:30",
        "code_prestation": "AIDE",
    }
    row.update(kw)
    return row


def render(
    fmt: FileFormat,
    rows: list[dict[str, str]],
    *,
    encoding: str = "utf-8",
    eol: str = "\r\n",
    bom: bool = False,
) -> bytes:
    # Optional trailing columns (fmt.optional_tail) are left out unless a row gives them.
    names = (
        next(n for n in reversed(fmt.accepted_names) if all(k in n for row in rows for k in row))
        if rows
        else fmt.names
    )
    lines = [";".join(names)] + [";".join(row[name] for name in names) for row in rows]
    data = eol.join(lines).encode(encoding) + eol.encode()
    return (b"\xef\xbb\xbf" if bom else b"") + data


def write(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


def workers_file(
    directory: Path, rows: list[dict[str, str]], day: str = DAY1, **kw: object
) -> Path:
    return write(directory, f"intervenants_{day}.csv", render(WORKERS, rows, **kw))  # type: ignore[arg-type]


def bens_file(directory: Path, rows: list[dict[str, str]], day: str = DAY1, **kw: object) -> Path:
    return write(directory, f"beneficiaires_{day}.csv", render(BENEFICIARIES, rows, **kw))  # type: ignore[arg-type]


def planned_file(directory: Path, rows: list[dict[str, str]], day: str = DAY1) -> Path:
    return write(directory, f"interventions_prevues_{day}.csv", render(PLANNED, rows))


@dataclass
class World:
    nord: Antenna
    sud: Antenna


def world(session: Session) -> World:
    """Two antennas and two funders, as the organisation's set-up provides them."""
    nord = factories.antenna(session, "NORD")
    sud = factories.antenna(session, "SUD")
    factories.funder(session, FunderKind.APA, "APA75")
    factories.funder(session, FunderKind.PENSION_FUND, "CNAV")
    session.commit()
    return World(nord, sud)
