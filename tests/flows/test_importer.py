"""Importing the planning software's files: validation, rejects, history, idempotence."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows import importer
from flows.formats import BENEFICIARIES
from flows.importer import import_file
from ledger.models import (
    AuditEntry,
    Beneficiary,
    CarePlan,
    Civility,
    Phone,
    PlannedVisit,
    Worker,
)
from ledger.timeutil import to_paris
from tests.flows.files import (
    DAY2,
    ben_row,
    bens_file,
    planned_file,
    planned_row,
    render,
    worker_row,
    workers_file,
    world,
    write,
)


@pytest.fixture
def setup(session: Session) -> None:
    world(session)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import may change, as plain sorted tuples."""
    session.expire_all()
    return {
        "workers": sorted(
            (w.external_id, w.last_name, w.phone_code, w.antenna_id, w.active_from, w.active_until)
            for w in session.scalars(select(Worker))
        ),
        "beneficiaries": sorted(
            (b.external_id, b.last_name, b.first_name, b.gir, b.care_start, b.care_end, b.address)
            for b in session.scalars(select(Beneficiary))
        ),
        "phones": sorted(
            (p.beneficiary_id, p.e164, p.kind, p.active_from, p.active_until)
            for p in session.scalars(select(Phone))
        ),
        "plans": sorted(
            (p.beneficiary_id, p.funder_id, p.service_code, p.max_hours, p.starts_on, p.ends_on)
            for p in session.scalars(select(CarePlan))
        ),
        "planned": sorted(
            (p.external_id, p.worker_id, p.beneficiary_id, p.service_code)
            for p in session.scalars(select(PlannedVisit))
        ),
    }


def rejects(report: importer.ImportReport) -> list[list[str]]:
    assert report.reject_path is not None
    lines = report.reject_path.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == "ligne;champ;motif;contenu"
    return [line.split(";") for line in lines[1:] if line]


def test_workers_are_created_updated_and_ended_not_deleted(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    first = workers_file(
        data_dir / "in",
        [worker_row("INT001"), worker_row("INT002", nom="Petit", adresse_antenne="3 rue Neuve")],
    )
    report = import_file(session_factory, first, data_dir)
    assert (report.created, report.rejected, report.refused) == (2, 0, "")
    assert report.reject_path is None

    second = workers_file(
        data_dir / "in", [worker_row("INT001", nom="Durand-Leroy", code_telephone="4999")], day=DAY2
    )
    report = import_file(session_factory, second, data_dir)
    assert (report.updated, report.ended) == (1, 1)
    workers = {w.external_id: w for w in session.scalars(select(Worker))}
    assert workers["INT001"].last_name == "Durand-Leroy"
    assert workers["INT001"].phone_code == "4999"
    assert workers["INT002"].active_until == date(2026, 11, 23)  # ended the day before
    assert workers["INT002"].antenna.address == "3 rue Neuve"
    changes = session.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "flows.worker_updated")
    ).one()
    assert changes["changes"]["last_name"] == ["Durand", "Durand-Leroy"]
    assert changes["changes"]["phone_code"] == ["4001", "4999"]


def test_the_same_file_twice_changes_nothing(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    workers = workers_file(data_dir / "in", [worker_row("INT001")])
    bens = bens_file(
        data_dir / "in",
        [
            ben_row("BEN001", telephone_2="06 12 34 56 78"),
            ben_row("BEN002", telephone_1="0145678902"),
        ],
    )
    planned = planned_file(data_dir / "in", [planned_row("PV1")])
    for path in (workers, bens, planned):
        import_file(session_factory, path, data_dir)
    before = snapshot(session)
    audits = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    for path in (workers, bens, planned):
        report = import_file(session_factory, path, data_dir)
        assert (report.created, report.updated, report.ended, report.removed) == (0, 0, 0, 0)
        assert report.unchanged == report.lines
    assert snapshot(session) == before
    # Only the three "file imported" entries were added.
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits + 3


def test_history_of_phones_plans_and_care_end_is_kept(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    import_file(session_factory, bens_file(data_dir / "in", [ben_row("BEN001")]), data_dir)
    changed = ben_row(
        "BEN001",
        telephone_1="06 12 34 56 78",
        heures_max="45,5",
        date_fin_prise_en_charge="2027-06-30",
    )
    report = import_file(session_factory, bens_file(data_dir / "in", [changed], day=DAY2), data_dir)
    assert (report.updated, report.created) == (1, 0)

    ben = session.scalars(select(Beneficiary)).one()
    assert ben.care_end == date(2027, 6, 30)
    phones = sorted(
        (p.e164, p.active_from, p.active_until)
        for p in session.scalars(select(Phone).where(Phone.beneficiary_id == ben.id))
    )
    assert phones == [
        ("+33145678901", date(2026, 1, 1), date(2026, 11, 23)),
        ("+33612345678", date(2026, 11, 24), None),
    ]
    plans = [
        (p.max_hours, p.starts_on, p.ends_on)
        for p in session.scalars(select(CarePlan).order_by(CarePlan.starts_on))
    ]
    assert plans == [(40.0, date(2026, 1, 1), date(2026, 11, 23)), (45.5, date(2026, 11, 24), None)]
    details = session.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "flows.beneficiary_updated")
    ).one()
    assert details["changes"]["care_end"] == [None, "2027-06-30"]

    # The next day's file, unchanged, keeps this history as it is.
    again = import_file(
        session_factory, bens_file(data_dir / "in", [changed], day="20261125"), data_dir
    )
    assert (again.updated, again.unchanged) == (0, 1)
    assert session.scalar(select(func.count()).select_from(CarePlan)) == 2


def test_beneficiary_missing_from_a_full_file_is_ended(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    import_file(
        session_factory, bens_file(data_dir / "in", [ben_row("B1"), ben_row("B2")]), data_dir
    )
    report = import_file(
        session_factory, bens_file(data_dir / "in", [ben_row("B1")], day=DAY2), data_dir
    )
    assert report.ended == 1
    ends = dict(session.execute(select(Beneficiary.external_id, Beneficiary.care_end)).all())
    assert ends == {"B1": None, "B2": date(2026, 11, 23)}


def test_a_truncated_file_does_not_end_everyone(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    setup: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "MIN_END_GUARD", 1)
    rows = [worker_row(f"INT00{n}") for n in range(1, 5)]
    import_file(session_factory, workers_file(data_dir / "in", rows), data_dir)
    report = import_file(
        session_factory, workers_file(data_dir / "in", rows[:1], day=DAY2), data_dir
    )
    assert report.ended == 0
    assert "fichier incomplet" in report.notes[0]
    assert session.scalar(select(func.count()).where(Worker.active_until.is_not(None))) == 0


def test_latin1_bom_crlf_and_french_phone_forms(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    latin = bens_file(
        data_dir / "in",
        [
            ben_row(
                "B1",
                nom="Lefèvre",
                prenom="Hélène",
                ville="Évry",
                telephone_1="01.45.67.89.01",
                telephone_2="+33 6 12 34 56 78",
                telephone_3="0033 1 45 67 89 09",
            )
        ],
        encoding="cp1252",
        eol="\r\n",
    )
    assert "è".encode("cp1252") in latin.read_bytes()
    report = import_file(session_factory, latin, data_dir)
    assert report.rejected == 0, report.reject_path and report.reject_path.read_text()
    bom = bens_file(
        data_dir / "in2",
        [ben_row("B2", nom="Noël", civilite="Madame")],
        day=DAY2,
        bom=True,
        eol="\n",
    )
    report = import_file(session_factory, bom, data_dir, full=False)
    assert report.rejected == 0
    bens = {b.external_id: b for b in session.scalars(select(Beneficiary))}
    assert (bens["B1"].last_name, bens["B1"].first_name, bens["B1"].city) == (
        "Lefèvre",
        "Hélène",
        "Évry",
    )
    assert (bens["B2"].last_name, bens["B2"].civility) == ("Noël", Civility.MRS)
    numbers = set(session.scalars(select(Phone.e164).where(Phone.beneficiary_id == bens["B1"].id)))
    assert numbers == {"+33145678901", "+33612345678", "+33145678909"}


GOOD = ben_row("GOOD")

LINE_CASES: dict[str, tuple[bytes | str | dict[str, str], str, str]] = {
    "wrong encoding": (b"BAD;M;Ab\x81\x8d;", "", "encodage illisible"),
    "missing column": ("BAD;M;Martin", "", "3 colonnes au lieu de 22"),
    "extra column": (
        ";".join(ben_row("BAD").values()) + ";en trop",
        "",
        "23 colonnes au lieu de 22",
    ),
    "bad date": (
        ben_row("BAD", date_debut_prise_en_charge="2026-02-30"),
        "date_debut_prise_en_charge",
        "date inexistante",
    ),
    "unreadable date": (
        ben_row("BAD", date_naissance="02/04/38"),
        "date_naissance",
        "date illisible",
    ),
    "end before start": (
        ben_row("BAD", date_fin_plan="2025-12-31"),
        "date_fin_plan",
        "fin avant le début",
    ),
    "same id, other person": (
        ben_row("GOOD", nom="Autre"),
        "id_planning",
        "mêmes informations personnelles que sa première ligne (ligne 2)",
    ),
    "unknown antenna": (ben_row("BAD", code_antenne="EST"), "code_antenne", "antenne inconnue"),
    "unknown funder": (ben_row("BAD", code_financeur="MSA"), "code_financeur", "financeur inconnu"),
    "bad phone": (ben_row("BAD", telephone_1="12"), "telephone_1", "numéro de téléphone invalide"),
    "bad gir": (ben_row("BAD", gir="7"), "gir", "hors de 1 à 6"),
    "missing required": (ben_row("BAD", nom=""), "nom", "valeur obligatoire manquante"),
}


@pytest.mark.parametrize("case", sorted(LINE_CASES))
def test_each_bad_line_is_rejected_with_its_reason_and_the_rest_applied(
    case: str, session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    import_file(
        session_factory,
        bens_file(data_dir / "in", [ben_row("OLD")], day="20261120"),
        data_dir,
        full=False,
    )
    before = snapshot(session)
    bad, field, reason = LINE_CASES[case]
    good_bytes = render(BENEFICIARIES, [GOOD])
    if isinstance(bad, dict):
        bad_bytes = ";".join(bad.values()).encode()
    elif isinstance(bad, str):
        bad_bytes = bad.encode()
    else:
        bad_bytes = bad
    path = write(data_dir / "in", "beneficiaires_20261123.csv", good_bytes + bad_bytes + b"\r\n")
    report = import_file(session_factory, path, data_dir, full=False)

    assert (report.lines, report.created, report.rejected) == (2, 1, 1)
    [(line, got_field, got_reason, *_)] = rejects(report)
    assert (line, got_field) == ("3", field)
    assert reason in got_reason
    after = snapshot(session)
    assert [b for b in after["beneficiaries"] if b[0] != "GOOD"] == before["beneficiaries"]
    assert {b[0] for b in after["beneficiaries"]} == {"OLD", "GOOD"}


FILE_CASES = {
    "empty file": ("beneficiaires_20261123.csv", b"", "fichier vide"),
    "header only": ("beneficiaires_20261123.csv", render(BENEFICIARIES, []), "fichier vide"),
    "utf-16": (
        "beneficiaires_20261123.csv",
        render(BENEFICIARIES, [GOOD], encoding="utf-16"),
        "UTF-16",
    ),
    "wrong header": ("beneficiaires_20261123.csv", b"id;nom\r\nB1;X\r\n", "en-tête inattendu"),
    "unknown name": (
        "clients_20261123.csv",
        render(BENEFICIARIES, [GOOD]),
        "nom de fichier refusé",
    ),
    "path trick": (
        "../beneficiaires_20261123.csv",
        render(BENEFICIARIES, [GOOD]),
        "nom de fichier refusé",
    ),
    "hidden name": (
        ".beneficiaires_20261123.csv",
        render(BENEFICIARIES, [GOOD]),
        "nom de fichier refusé",
    ),
    "bad date in name": (
        "beneficiaires_20261332.csv",
        render(BENEFICIARIES, [GOOD]),
        "nom de fichier refusé",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_a_refused_file_applies_nothing_and_says_why(
    case: str, session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    import_file(
        session_factory, bens_file(data_dir / "in", [ben_row("OLD")], day="20261120"), data_dir
    )
    before = snapshot(session)
    name, data, reason = FILE_CASES[case]
    path = write(data_dir / "upload", "received.bin", data)
    report = import_file(session_factory, path, data_dir, name=name)
    assert reason in report.refused
    [(line, field, why, _)] = rejects(report)
    assert (line, field) == ("0", "")
    assert reason in why
    assert report.reject_path is not None
    assert report.reject_path.parent == data_dir / "flows" / "rejects"
    # Nothing applied, nobody ended.
    assert snapshot(session) == before


def test_a_file_over_the_size_limit_is_refused(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    path = bens_file(data_dir / "in", [GOOD])
    report = import_file(session_factory, path, data_dir, max_bytes=100)
    assert "trop volumineux" in report.refused
    assert session.scalar(select(func.count()).select_from(Beneficiary)) == 0


def test_a_100_mb_file_is_streamed_with_bounded_memory(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    """Header, a good line, a 100 MB line without an end, another good line."""
    path = data_dir / "in" / "beneficiaires_20261123.csv"
    path.parent.mkdir()
    with open(path, "wb") as handle:
        handle.write(render(BENEFICIARIES, [GOOD]))
        block = b"x" * (1 << 20)
        for _ in range(100):
            handle.write(block)
        handle.write(b"\r\n" + ";".join(ben_row("LAST").values()).encode() + b"\r\n")
    assert path.stat().st_size > 100 * 1024 * 1024
    tracemalloc.start()
    try:
        report = import_file(session_factory, path, data_dir)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    assert (report.lines, report.created, report.rejected) == (3, 2, 1)
    [(line, _field, reason, content)] = rejects(report)
    assert line == "3" and "ligne trop longue" in reason and content == ""
    assert set(session.scalars(select(Beneficiary.external_id))) == {"GOOD", "LAST"}


def test_a_crash_halfway_applies_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    setup: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_file(
        session_factory, bens_file(data_dir / "in", [ben_row("OLD")], day="20261120"), data_dir
    )
    before = snapshot(session)
    monkeypatch.setattr(importer, "CHUNK_LINES", 2)
    calls = []
    real = importer._Beneficiaries.apply_chunk

    def crash_on_second_chunk(self: Any, rows: Any, reject: Any) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("power cut")
        real(self, rows, reject)

    monkeypatch.setattr(importer._Beneficiaries, "apply_chunk", crash_on_second_chunk)
    rows = [ben_row(f"B{n}", nom=f"Nouveau{n}") for n in range(5)] + [ben_row("OLD", nom="Changé")]
    with pytest.raises(RuntimeError, match="power cut"):
        import_file(session_factory, bens_file(data_dir / "in", rows), data_dir)
    assert calls == [2, 2]
    assert snapshot(session) == before
    assert list((data_dir / "flows" / "rejects").glob("*")) == []


def test_planned_visits_created_updated_and_cancelled(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    import_file(session_factory, workers_file(data_dir / "in", [worker_row("INT001")]), data_dir)
    import_file(session_factory, bens_file(data_dir / "in", [ben_row("BEN001")]), data_dir)
    rows = [
        planned_row("PV1"),
        planned_row("PV2", debut="2026-11-24 14:00", fin="2026-11-24 15:00"),
    ]
    report = import_file(session_factory, planned_file(data_dir / "in", rows), data_dir)
    assert report.created == 2
    rows = [
        planned_row("PV1", fin="2026-11-24 11:00"),
        planned_row("PV3", id_intervenant="INCONNU"),
        planned_row("PV4", fin="2026-11-24 08:00"),
    ]
    report = import_file(session_factory, planned_file(data_dir / "in", rows, day=DAY2), data_dir)
    assert (report.updated, report.removed, report.rejected) == (1, 1, 2)
    assert [(r[0], r[1]) for r in rejects(report)] == [("3", "id_intervenant"), ("4", "fin")]
    planned = session.scalars(select(PlannedVisit)).one()
    assert planned.external_id == "PV1"
    assert to_paris(planned.ends_at).strftime("%Y-%m-%d %H:%M") == "2026-11-24 11:00"


def test_a_file_older_than_the_last_one_applied_is_refused(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    import_file(
        session_factory, workers_file(data_dir / "in", [worker_row("INT001")], day=DAY2), data_dir
    )
    before = snapshot(session)
    older = workers_file(data_dir / "in", [worker_row("INT001", nom="Ancien")], day="20261120")
    report = import_file(session_factory, older, data_dir)
    assert "plus ancien que le dernier importé (intervenants_20261124.csv)" in report.refused
    assert snapshot(session) == before
    # The same file again is still accepted (and changes nothing).
    again = import_file(session_factory, data_dir / "in" / f"intervenants_{DAY2}.csv", data_dir)
    assert (again.refused, again.unchanged) == ("", 1)


def test_a_plan_not_started_yet_is_corrected_in_place_and_an_ended_plan_closes(
    session: Session, session_factory: sessionmaker[Session], data_dir: Path, setup: None
) -> None:
    future = ben_row("B1", date_debut_plan="2027-01-01")
    import_file(session_factory, bens_file(data_dir / "in", [future]), data_dir)
    corrected = ben_row("B1", date_debut_plan="2027-01-01", heures_max="20")
    import_file(session_factory, bens_file(data_dir / "in", [corrected], day=DAY2), data_dir)
    plans = [(p.max_hours, p.starts_on, p.ends_on) for p in session.scalars(select(CarePlan))]
    assert plans == [(20.0, date(2027, 1, 1), None)]

    import_file(
        session_factory,
        bens_file(data_dir / "in", [ben_row("B2")], day="20261125"),
        data_dir,
        full=False,
    )
    ended = ben_row("B2", date_fin_plan="2026-11-20")
    report = import_file(
        session_factory, bens_file(data_dir / "in", [ended], day="20261126"), data_dir, full=False
    )
    assert report.updated == 1
    session.expire_all()
    b2_plans = [
        (p.starts_on, p.ends_on)
        for p in session.scalars(
            select(CarePlan).join(Beneficiary).where(Beneficiary.external_id == "B2")
        )
    ]
    assert b2_plans == [(date(2026, 1, 1), date(2026, 11, 20))]


def test_reject_files_are_never_overwritten(tmp_path: Path) -> None:
    from flows.importer import reject_path_for

    first = reject_path_for(tmp_path, "intervenants_20261123.csv")
    first.parent.mkdir(parents=True, exist_ok=True)
    first.write_text("x")
    second = reject_path_for(tmp_path, "intervenants_20261123.csv")
    assert second != first and second.name == "intervenants_20261123_rejets_2.csv"
    second.write_text("y")
    assert reject_path_for(tmp_path, "intervenants_20261123.csv").name.endswith("_rejets_3.csv")
    assert first.read_text() == "x"
