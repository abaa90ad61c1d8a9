"""States 0 to 4, 6 and 9 to 12 read a closed month from the kept figures, with the same result.

The same pages and exports, asked before the close (every month computed
live), after it (the closed month read from the ledger's sums, or from its visit
rows ``month_visit_figures`` for state 0 and for a period that cuts the month)
and after a reopen (live again), are the same, for a referent and for a manager
(who sees their antenna only), with and without a funder filter, over a month,
a week and dates cutting it, and over a year whose other months are not closed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.settings import money
from ledger import figures, service
from ledger.models import Beneficiary, Funder, Visit, VisitStatus, Worker
from ledger.motives import Motive
from ledger.timeutil import Month
from tests import factories
from tests.extranet.conftest import login, make_app
from tests.extranet.stats.conftest import (
    close_month,
    csv_sections,
    demo_with_users,
    page,
    table,
)

SEPTEMBER, OCTOBER = Month(2026, 9), Month(2026, 10)


DATES = "periode=dates&du=2026-09-10&au=2026-10-12"


def _states(client: object, funder: str) -> dict[str, dict[str, list[list[str]]]]:
    urls = {
        "11 month": "/statistiques/activite-mensuelle.csv?periode=mois&mois=2026-09",
        "11 year": "/statistiques/activite-mensuelle.csv?periode=annee&annee=2026",
        "11 dates": f"/statistiques/activite-mensuelle.csv?{DATES}",
        # A week inside the closed month: summed from its visit rows of those days.
        "11 week": "/statistiques/activite-mensuelle.csv?periode=semaine&semaine=2026-W38",
        "12 year": "/statistiques/activite-annuelle.csv?periode=annee&annee=2026",
        "12 half": "/statistiques/activite-annuelle.csv?periode=semestre&semestre=2026-2",
        "1 year": "/statistiques/beneficiaires.csv?periode=annee&annee=2026",
        "1 dates": f"/statistiques/beneficiaires.csv?{DATES}",
        "9 year": "/statistiques/intervenants.csv?periode=annee&annee=2026",
        "9 month": "/statistiques/intervenants.csv?periode=mois&mois=2026-09",
        "9 dates": f"/statistiques/intervenants.csv?{DATES}",
        "2 year": "/statistiques/plans-d-aide.csv?periode=annee&annee=2026",
        "2 dates": f"/statistiques/plans-d-aide.csv?{DATES}",
        "4 year": "/statistiques/financeurs.csv?periode=annee&annee=2026",
        "4 dates": f"/statistiques/financeurs.csv?{DATES}",
        "10 year": "/statistiques/profil.csv?periode=annee&annee=2026",
        "10 dates": f"/statistiques/profil.csv?{DATES}",
        # The visits behind the figures: each visit's kept minutes and split between funders.
        "0 year": "/statistiques/interventions.csv?periode=annee&annee=2026",
        "0 dates": f"/statistiques/interventions.csv?{DATES}",
        # The incomplete calls and their correction: counted at the close.
        "3 year": "/statistiques/appels-incomplets.csv?periode=annee&annee=2026",
        "3 dates": f"/statistiques/appels-incomplets.csv?{DATES}",
        "3 to correct": f"/statistiques/appels-incomplets.csv?{DATES}&etat=a-corriger",
        "3 corrected": f"/statistiques/appels-incomplets.csv?{DATES}&etat=corrige",
        "3 no departure": f"/statistiques/appels-incomplets.csv?{DATES}&type=depart",
        "6 year": "/statistiques/taux-de-correction.csv?periode=annee&annee=2026",
        "6 dates": f"/statistiques/taux-de-correction.csv?{DATES}",
    }
    found = {}
    for name, url in urls.items():
        for suffix in ("", f"&financeur={funder}"):
            response = client.get(url + suffix)  # type: ignore[attr-defined]
            assert response.status_code == 200, url + suffix
            sections = csv_sections(response.get_data())
            sections.pop("")  # the heading: the time it was produced
            found[name + suffix] = sections
    for name in ("0 year", "0 dates"):
        found[f"{name} page"] = _visits_page(client, urls[name], found[name])
    return found


def _visits_page(
    client: object, csv_url: str, csv: dict[str, list[list[str]]]
) -> dict[str, list[list[str]]]:
    """State 0's page: its caption (how many visits, their kept hours) and visit ids are
    the file's, though the page reads only its first rows and counts the others apart."""
    doc = page(client, csv_url.replace(".csv?", "?"))  # type: ignore[arg-type]
    caption = doc.get_element_by_id("interventions-legende").text_content()
    ((title, rows),) = csv.items()
    assert caption == title
    ids = [row[0] for row in table(doc, "interventions")]
    assert ids == [row[0] for row in rows[1 : len(ids) + 1]]
    return {caption: [ids]}


def _correct_some_of_september(session: Session) -> None:
    """Some of September's incomplete visits corrected with a motive, one deleted, and
    one entered by hand: the demo corrects none."""
    incomplete = session.scalars(
        select(Visit)
        .where(
            Visit.service_date >= SEPTEMBER.first_day,
            Visit.service_date <= SEPTEMBER.last_day,
            Visit.status == VisitStatus.INCOMPLETE,
        )
        .order_by(Visit.id)
    ).all()
    assert len(incomplete) > 8
    for index, visit in enumerate(incomplete[:8:2]):
        start = visit.started_at or (visit.ended_at and visit.ended_at - timedelta(hours=1))
        service.correct_visit(
            session,
            visit,
            started_at=start,
            ended_at=visit.ended_at or (start and start + timedelta(hours=1)),
            motive=Motive.WORKER_FORGOT,
            comment="",
            author="manager-kept",
            delete=index == 3,
        )
    visit = incomplete[-1]
    worker, beneficiary = (
        session.get(Worker, visit.worker_id),
        session.get(Beneficiary, visit.beneficiary_id),
    )
    assert worker is not None and beneficiary is not None
    service.enter_manual_visit(
        session,
        worker=worker,
        beneficiary=beneficiary,
        started_at=datetime(2026, 9, 21, 6, 0, tzinfo=UTC),
        ended_at=datetime(2026, 9, 21, 7, 0, tzinfo=UTC),
        motive=Motive.PHONE_OUT_OF_ORDER,
        comment="",
        author="manager-kept",
    )


@pytest.mark.slow
def test_states_read_from_kept_figures_as_computed_live(
    session: Session,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo_with_users(session, monkeypatch, "referent-kept", "manager-kept")
    funder = session.scalars(select(Funder.code).order_by(Funder.id)).first()
    assert funder is not None
    _correct_some_of_september(session)
    session.commit()
    app = make_app(session_factory, data_dir, stats_cache_seconds=0)

    def read() -> dict[str, dict[str, dict[str, list[list[str]]]]]:
        found = {}
        for who in ("referent-kept", "manager-kept"):
            with app.test_client() as client:
                assert login(client, who) == 302
                found[who] = _states(client, funder)
        return found

    live = read()
    # The referent's year is more than a page: the page counts the visits it does not list.
    ((year_ids,),) = live["referent-kept"]["0 year page"].values()
    assert len(year_ids) == 500
    (visits,) = live["referent-kept"]["0 dates"].values()
    assert any(" : " in row[9] for row in visits[1:])  # some visits split between funders
    total = live["referent-kept"]["11 month"]
    assert any(row[0] == "Total" and row[3] != "0" for rows in total.values() for row in rows)
    assert len(live["manager-kept"]["11 month"]) == 1
    # September has incomplete calls, corrected and not, for the counts to compare.
    for name in ("3 corrected", "3 to correct"):
        sections = live["referent-kept"][name]
        (kinds,) = (rows for title, rows in sections.items() if title.startswith("Appels"))
        assert [row for row in kinds if row[0] == "Total" and row[3] != "0"], name
    rules = money().rules
    assert rules  # the funder's rounding of the environment, as the closing page passes it
    close_month(session, SEPTEMBER)
    assert figures.kept_months(session, [SEPTEMBER, OCTOBER], rules) == {SEPTEMBER}
    assert read() == live
    factories.reopen_month(session, SEPTEMBER)
    assert figures.kept_months(session, [SEPTEMBER], rules) == set()
    assert read() == live
