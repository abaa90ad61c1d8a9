"""Each state's figures on the two-antenna scenario, read on the page as a manager reads them.

The scenario (tests/extranet/conftest.py), on Friday 20 November 2026, in each
antenna: one complete visit of one hour (11:00-12:00 UTC), a departure without
an arrival (an incomplete visit), a call from an unknown number, two planned
visits of another worker for the same beneficiary, an APA plan of 40 hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient
from lxml import html
from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.stats import controllers
from ledger.models import (
    Absence,
    AbsenceKind,
    Beneficiary,
    CallEvent,
    Visit,
    VisitStatus,
    Worker,
)
from ledger.motives import Motive
from ledger.pairing import Direction
from ledger.service import attach_call, correct_visit
from tests.extranet.conftest import Scenario
from tests.extranet.stats.conftest import csv_sections, logged_in, page, table, total

MONTH = "mois=2026-11"


@pytest.fixture
def manager_a(client: FlaskClient, scenario: Scenario) -> FlaskClient:
    return logged_in(client, "resp-a")


def test_the_menu_lists_the_thirteen_states(manager_a: FlaskClient) -> None:
    doc = page(manager_a, "/statistiques")
    links = doc.xpath("//nav[@class='states-menu']//a")
    assert len(links) == 13
    assert links[0].get("href") == "/statistiques/beneficiaires"
    assert links[12].get("href") == "/statistiques/absences"
    # The overview tables stay, scoped: the manager sees antenna A only.
    text = doc.text_content()
    assert "Antenne NORD" in text and "Antenne SUD" not in text


def test_1_hours_per_beneficiary_link_down_to_the_visits(
    manager_a: FlaskClient, scenario: Scenario
) -> None:
    a = scenario.a
    doc = page(manager_a, f"/statistiques/beneficiaires?{MONTH}")
    rows = table(doc, "heures-beneficiaires")
    assert len(rows) == 1
    name, ext, _antenna, _funder, _code, category, visits, minutes, hours = rows[0]
    assert (ext, category, visits, minutes, hours) == (
        a.beneficiary.external_id,
        "Dans le plan",
        "1",
        "60",
        "1 h 00",
    )
    link = doc.xpath("//table[@id='heures-beneficiaires']/tbody/tr/td[6]/a/@href")[0]
    behind = page(manager_a, link)
    listed = table(behind, "interventions")
    assert len(listed) == 1 and listed[0][0] == str(a.complete_visit.id)
    assert behind.xpath(f"//a[@href='/interventions/{a.complete_visit.id}']")


def test_2_plan_follow_up(manager_a: FlaskClient, scenario: Scenario) -> None:
    doc = page(manager_a, f"/statistiques/plans-d-aide?{MONTH}")
    plans = {r[3]: r for r in table(doc, "plans")}
    assert len(plans) == 2  # the beneficiary's plan and the new beneficiary's
    row = next(r for r in plans.values() if r[0].startswith(scenario.a.beneficiary.last_name))
    assert row[5:11] == ["40 h 00", "1", "40 h 00", "1 h 00", "0 h 00", "2,5 %"]
    assert table(doc, "plans-mois") == [["novembre 2026", "80 h 00", "1 h 00", "0 h 00", "1,2 %"]]
    svg = doc.xpath("//svg[@id='graphique-plans']")[0]
    assert svg.get("role") == "img" and "style" not in html.tostring(svg).decode()
    assert table(doc, "graphique-plans-donnees")[0][:2] == ["nov. 2026", "80 h 00"]


def test_3_and_6_incomplete_calls_corrected_or_not(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    manager = logged_in(client, "resp-a")
    doc = page(manager, f"/statistiques/appels-incomplets?{MONTH}")
    assert table(doc, "incomplets-types") == [["Arrivée non pointée", "0", "1", "1"]]
    (detail,) = table(doc, "incomplets")
    assert detail[4:6] == ["Arrivée non pointée", "À corriger"]
    assert doc.xpath(f"//a[@href='/interventions/{scenario.a.incomplete_visit.id}']")
    rate = page(manager, f"/statistiques/taux-de-correction?{MONTH}")
    assert table(rate, "correction-antennes")[0][1:4] == ["1", "0", "0,0 %"]

    visit = session.get_one(Visit, scenario.a.incomplete_visit.id)
    correct_visit(
        session,
        visit,
        started_at=datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        ended_at=visit.ended_at,
        motive=Motive.WORKER_FORGOT,
        comment="",
        author="resp-a",
    )
    session.commit()
    client.application.extensions.pop("extranet_stats_cache")  # computed afresh
    doc = page(manager, f"/statistiques/appels-incomplets?{MONTH}&etat=corrige")
    assert table(doc, "incomplets-types") == [["Arrivée non pointée", "1", "0", "1"]]
    assert table(doc, "incomplets")[0][5:8][0] == "Corrigé"
    assert table(doc, "incomplets")[0][7] == "resp-a"
    not_yet = page(manager, f"/statistiques/appels-incomplets?{MONTH}&etat=a-corriger")
    assert table(not_yet, "incomplets") == [["Aucun appel incomplet sur la période."]]
    rate = page(manager, f"/statistiques/taux-de-correction?{MONTH}")
    assert table(rate, "correction-antennes")[0][1:4] == ["1", "1", "100,0 %"]
    (by_author,) = table(rate, "correction-responsables")
    assert by_author[1:3] == ["Resp-A", "1"]
    assert ["Moins de 24 h", "1", "100,0 %"] in table(rate, "correction-delais")


def test_6_a_visit_corrected_twice_counts_its_first_correction(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    # Two versions with a motive: the correction is the first (the lower version), by its
    # author; the later one, by another, is not counted.
    visit = session.get_one(Visit, scenario.a.incomplete_visit.id)
    for author, minute in (("resp-a", 0), ("autre", 30)):
        correct_visit(
            session,
            visit,
            started_at=datetime(2026, 11, 20, 12, minute, tzinfo=UTC),
            ended_at=visit.ended_at,
            motive=Motive.WORKER_FORGOT,
            comment="",
            author=author,
        )
        session.commit()
    manager = logged_in(client, "resp-a")
    rate = page(manager, f"/statistiques/taux-de-correction?{MONTH}")
    assert table(rate, "correction-antennes")[0][1:4] == ["1", "1", "100,0 %"]
    (by_author,) = table(rate, "correction-responsables")
    assert by_author[1:3] == ["Resp-A", "1"]
    assert ["Moins de 24 h", "1", "100,0 %"] in table(rate, "correction-delais")
    doc = page(manager, f"/statistiques/appels-incomplets?{MONTH}")
    assert table(doc, "incomplets")[0][7] == "resp-a"


def test_3_a_page_lists_the_first_incomplete_calls_and_counts_them_all(
    client: FlaskClient, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One incomplete visit in each antenna; a page that lists one row.
    monkeypatch.setattr(controllers, "PAGE_ROWS", 1)
    referent = logged_in(client, "referent")
    doc = page(referent, f"/statistiques/appels-incomplets?{MONTH}")
    assert total(doc, "incomplets-types") == ["Total", "0", "2", "2"]
    assert [r[1:] for r in table(doc, "incomplets-antennes")] == [["0", "1", "1"], ["0", "1", "1"]]
    (listed,) = table(doc, "incomplets")
    assert listed[4] == "Arrivée non pointée"
    assert "1 premières lignes sur 2" in doc.text_content()
    sections = csv_sections(referent.get(f"/statistiques/appels-incomplets.csv?{MONTH}").data)
    detail = sections["Détail des appels incomplets"]
    assert len(detail) == 3  # the header and both visits: a file has every row
    assert {row[8] for row in detail[1:]} == {
        f"Intervention {scenario.a.incomplete_visit.id}",
        f"Intervention {scenario.b.incomplete_visit.id}",
    }


@pytest.mark.parametrize(
    ("slug", "key", "caption"),
    [
        ("beneficiaires", "heures-beneficiaires", "Heures par bénéficiaire et financeur"),
        ("plans-d-aide", "plans", "Plans d'aide : autorisé et consommé"),
        ("financeurs", "financeurs-beneficiaires", "Bénéficiaires et leurs plans d'aide"),
    ],
)
def test_1_2_and_4_a_page_lists_the_first_rows_and_a_file_has_them_all(
    client: FlaskClient,
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    slug: str,
    key: str,
    caption: str,
) -> None:
    monkeypatch.setattr(controllers, "PAGE_ROWS", 1)
    referent = logged_in(client, "referent")
    sections = csv_sections(referent.get(f"/statistiques/{slug}.csv?{MONTH}").data)
    (rows,) = [v for k, v in sections.items() if k.startswith(caption)]
    every = [row for row in rows[1:] if row[0] != "Total"]
    assert len(every) >= 2
    doc = page(referent, f"/statistiques/{slug}?{MONTH}")
    (listed,) = table(doc, key)
    assert listed[0] == every[0][0]
    assert f"1 premières lignes sur {len(every)}" in doc.text_content()


def test_6_a_visit_done_without_calls_counts_as_corrected_by_nobody(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    # A visit recorded complete with no call (an import, the bench's history): corrected,
    # with no version with a motive, so no author and no delay.
    a = scenario.a
    done = a.complete_visit
    session.add(
        Visit(
            worker_id=done.worker_id,
            beneficiary_id=done.beneficiary_id,
            antenna_id=done.antenna_id,
            started_at=datetime(2026, 11, 19, 9, 0, tzinfo=UTC),
            ended_at=datetime(2026, 11, 19, 10, 0, tzinfo=UTC),
            service_date=date(2026, 11, 19),
            status=VisitStatus.COMPLETE,
            version=1,
        )
    )
    session.commit()
    manager = logged_in(client, "resp-a")
    doc = page(manager, f"/statistiques/appels-incomplets?{MONTH}")
    assert table(doc, "incomplets-types") == [
        ["Arrivée non pointée", "0", "1", "1"],
        ["Aucun appel (saisie manuelle)", "1", "0", "1"],
    ]
    rate = page(manager, f"/statistiques/taux-de-correction?{MONTH}")
    assert table(rate, "correction-antennes")[0][1:4] == ["2", "1", "50,0 %"]
    (by_author,) = table(rate, "correction-responsables")
    assert by_author[1:3] == ["—", "1"]
    assert [r[1] for r in table(rate, "correction-delais")] == ["0", "0", "0", "0"]


def test_4_beneficiaries_by_funder(manager_a: FlaskClient) -> None:
    doc = page(manager_a, f"/statistiques/financeurs?{MONTH}")
    (row,) = table(doc, "financeurs")
    assert row[2:7] == ["APA", "2", "2", "80 h 00", "1 h 00"]
    assert len(table(doc, "financeurs-beneficiaires")) == 2


def test_5_unknown_numbers_and_what_became_of_them(
    client: FlaskClient, scenario: Scenario, session: Session
) -> None:
    manager = logged_in(client, "resp-a")
    doc = page(manager, f"/statistiques/non-identifies?{MONTH}")
    (number,) = table(doc, "non-identifies-numeros")
    assert number[0] == "+33199000001" and number[1] == "1" and number[7] == "À traiter"
    assert doc.xpath(f"//a[@href='/appels/{scenario.a.unknown_call.id}/rattacher']")

    event = session.get_one(CallEvent, scenario.a.unknown_call.id)
    attach_call(
        session,
        event,
        beneficiary=session.get_one(Beneficiary, scenario.a.beneficiary.id),
        worker=session.get_one(Worker, scenario.a.worker.id),
        direction=Direction.ARRIVAL,
        author="resp-a",
        add_phone=True,
    )
    session.commit()
    client.application.extensions.pop("extranet_stats_cache")  # computed afresh
    doc = page(manager, f"/statistiques/non-identifies?{MONTH}")
    (number,) = table(doc, "non-identifies-numeros")
    assert number[4] == "1" and number[6] == "0"
    assert number[7] == "Numéro ajouté à un bénéficiaire"
    assert number[5].startswith(scenario.a.beneficiary.last_name)
    assert table(doc, "non-identifies")[0][5] == "Numéro ajouté"


def test_7_and_8_planning_planned_against_done(manager_a: FlaskClient, scenario: Scenario) -> None:
    a = scenario.a
    prompt = page(manager_a, "/statistiques/planning-beneficiaire")
    assert "Choisissez un bénéficiaire" in prompt.text_content()
    doc = page(manager_a, f"/statistiques/planning-beneficiaire?beneficiaire={a.beneficiary.id}")
    rows = table(doc, "planning")
    # Two visits planned for another worker (not done), one done by the worker (not planned).
    assert sorted(r[3] for r in rows) == ["Non planifiée", "Non réalisée", "Non réalisée"]
    done = next(r for r in rows if r[3] == "Non planifiée")
    assert done[4] == "12:00–13:00" and done[6] == "1 h 00"
    assert total(doc, "planning-semaines")[1:] == ["2", "1", "2 h 00", "1 h 00", "-1 h 00"]
    week = page(
        manager_a,
        f"/statistiques/planning-intervenant?intervenant={a.worker.id}&periode=semaine&semaine=2026-W47",
    )
    assert [r[3] for r in table(week, "planning")] == ["Non planifiée"]


def test_9_hours_per_worker(manager_a: FlaskClient, scenario: Scenario) -> None:
    doc = page(manager_a, f"/statistiques/intervenants?{MONTH}")
    (row,) = table(doc, "heures-intervenants")
    assert row[1] == scenario.a.worker.external_id and row[3:] == ["1", "1", "60", "1 h 00"]


def test_10_profile_by_sex_age_and_gir(
    manager_a: FlaskClient, scenario: Scenario, session: Session
) -> None:
    people = session.scalars(
        select(Beneficiary).where(Beneficiary.antenna_id == scenario.a.antenna.id)
    ).all()
    assert len(people) == 4
    facts = [
        ("F", date(1940, 6, 1), 2),
        ("F", date(1931, 11, 30), 2),
        ("M", None, 4),
        (None, None, None),
    ]
    for person, (sex, birth, gir) in zip(people, facts, strict=True):
        person.sex, person.birth_date, person.gir = sex, birth, gir
    session.commit()
    doc = page(manager_a, f"/statistiques/profil?{MONTH}")
    assert table(doc, "profil-sexe") == [
        ["Femmes", "2", "50,0 %"],
        ["Hommes", "1", "25,0 %"],
        ["Non renseigné", "1", "25,0 %"],
    ]
    # 86 on 30 November 2026 (born 1940-06-01); 95 that very day (born 1931-11-30).
    assert table(doc, "profil-age") == [
        ["85 à 94 ans", "1", "25,0 %"],
        ["95 ans et plus", "1", "25,0 %"],
        ["Non renseigné", "2", "50,0 %"],
    ]
    assert table(doc, "profil-age-gir")[0] == ["85 à 94 ans", "1", "0", "0", "1"]
    assert table(doc, "profil-consommation") == [["APA", "1 h 00", "1 h 00", "1", "1 h 00"]]
    assert doc.xpath("//svg[@id='graphique-profil']")


def test_11_and_12_activity(manager_a: FlaskClient, scenario: Scenario) -> None:
    doc = page(manager_a, f"/statistiques/activite-mensuelle?{MONTH}")
    (row,) = table(doc, "activite")
    assert row == [
        "Antenne NORD",
        "1",
        "1",
        "1",
        "1 h 00",
        "1 h 00",
        "1 h 00",
        "1 h 00",
        "1 h 00",
        "1 h 00",
    ]
    assert doc.xpath(
        f"//table[@id='activite']//a[@href='/interventions/{scenario.a.complete_visit.id}']"
    )
    year = page(manager_a, "/statistiques/activite-annuelle?periode=annee&annee=2026")
    months = table(year, "activite-periode")
    assert len(months) == 12 and months[10][0] == "novembre 2026" and months[10][4] == "1 h 00"
    assert table(year, "heures-antennes-mois")[0][-1] == "1 h 00"
    assert year.xpath("//svg[@id='graphique-antennes']")
    half = page(manager_a, "/statistiques/activite-annuelle?periode=semestre&semestre=2026-2")
    assert len(table(half, "activite-periode")) == 6


def test_13_absences(manager_a: FlaskClient, scenario: Scenario, session: Session) -> None:
    ben = scenario.a.beneficiary.id
    session.add_all(
        [
            Absence(
                beneficiary_id=ben,
                kind=AbsenceKind.HOSPITAL,
                starts_on=date(2026, 11, 2),
                ends_on=date(2026, 11, 5),
            ),
            Absence(
                beneficiary_id=ben,
                kind=AbsenceKind.DEATH,
                starts_on=date(2026, 11, 18),
                ends_on=None,
            ),
            Absence(
                beneficiary_id=scenario.b.beneficiary.id,
                kind=AbsenceKind.HOLIDAY,
                starts_on=date(2026, 11, 1),
                ends_on=None,
            ),
        ]
    )
    session.commit()
    doc = page(manager_a, f"/statistiques/absences?{MONTH}")
    assert table(doc, "absences-types") == [
        ["Hospitalisation", "Temporaire", "1", "4"],
        ["Décès", "Définitive", "1", "13"],
    ]
    definitive = page(manager_a, f"/statistiques/absences?{MONTH}&nature=definitive")
    assert [r[2] for r in table(definitive, "absences")] == ["Décès"]


def test_a_call_not_identified_has_no_beneficiary_or_no_worker() -> None:
    """States 3 and 5 read the calls not identified through the partial index of the calls
    without a beneficiary or a worker (``_calls_in_period``): the same calls."""
    from ivr.services import identification
    from ledger.models import Identification

    for caller in ("+33145678901", None):
        for beneficiary_id in (None, 1):
            for digits in ("1234", None):
                for worker_id in (None, 2):
                    found = identification(caller, beneficiary_id, digits, worker_id)
                    assert (found is not Identification.OK) == (
                        beneficiary_id is None or worker_id is None
                    )
