"""A realistic synthetic organisation at the first customer's scale, from a seed.

Six Paris antennas, 330 workers, about 2,100 beneficiaries with one to three
numbers, the customer's funder mix, care plans ending across the year, and a
month of calls paired into visits with the same rule as the IVR
(``ledger.pairing.pair_calls``), a few percent of them incomplete.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ledger.bulk import bulk_record_calls
from ledger.models import (
    Antenna,
    AuditEntry,
    Beneficiary,
    CallEvent,
    CallOutcome,
    CallSource,
    CarePlan,
    Civility,
    Funder,
    FunderKind,
    Identification,
    Phone,
    PlannedVisit,
    Worker,
)
from ledger.pairing import CallFact, Direction
from ledger.timeutil import as_utc, paris_date, paris_to_utc, utc_now

ANTENNAS = [
    ("CENTRE", "Paris Centre", "12 rue du Temple, 75004 Paris", "75001,75002,75003,75004"),
    (
        "RIVEG",
        "Paris Rive Gauche",
        "8 rue de Vaugirard, 75006 Paris",
        "75005,75006,75007,75014,75015",
    ),
    ("OUEST", "Paris Ouest", "40 avenue de Wagram, 75017 Paris", "75008,75016,75017"),
    ("NORD", "Paris Nord", "22 rue Ordener, 75018 Paris", "75009,75010,75018"),
    ("EST", "Paris Est", "5 rue Oberkampf, 75011 Paris", "75011,75019,75020"),
    ("SUD", "Paris Sud", "30 avenue d'Italie, 75013 Paris", "75012,75013"),
]

FUNDERS = [
    ("APA75", "Département de Paris — APA", FunderKind.APA),
    ("ASLPA75", "Département de Paris — aide sociale personnes âgées", FunderKind.ASL_ELDERLY),
    (
        "ASLPH75",
        "Département de Paris — aide sociale personnes handicapées",
        FunderKind.ASL_DISABLED,
    ),
    ("PCH75", "Département de Paris — PCH", FunderKind.PCH),
    ("CNAV", "Caisse nationale d'assurance vieillesse", FunderKind.PENSION_FUND),
    ("AGIRC", "Caisse de retraite complémentaire Agirc-Arrco", FunderKind.PENSION_FUND),
    ("MUTPARIS", "Mutuelle des Parisiens", FunderKind.MUTUAL),
    ("CPAM75", "CPAM de Paris", FunderKind.CPAM),
    ("ETAT", "État", FunderKind.STATE),
    ("PRIVE", "Tarif plein (sans financeur)", FunderKind.PRIVATE),
]

#: Demo identifiers of the Département's funders on its teletransmission platform.
PLATFORM_IDS = {
    "APA75": "CD75-APA",
    "ASLPA75": "CD75-ASLPA",
    "ASLPH75": "CD75-ASLPH",
    "PCH75": "CD75-PCH",
}

SERVICE_BY_KIND = {
    FunderKind.APA: "APA-AIDE",
    FunderKind.ASL_ELDERLY: "ASL-AIDE",
    FunderKind.ASL_DISABLED: "ASL-AIDE",
    FunderKind.PCH: "PCH-AIDE",
    FunderKind.PENSION_FUND: "CAISSE-AIDE",
    FunderKind.MUTUAL: "SORTIE-HOSP",
    FunderKind.CPAM: "CPAM-AIDE",
    FunderKind.STATE: "ETAT-AIDE",
    FunderKind.PRIVATE: "MENAGE",
}

FIRST_NAMES = [
    "Marie",
    "Jeanne",
    "Françoise",
    "Monique",
    "Catherine",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Aïcha",
    "Fatoumata",
    "Mariam",
    "Sandrine",
    "Hélène",
    "Josiane",
    "Odette",
    "Colette",
    "Jean",
    "Pierre",
    "Michel",
    "André",
    "Philippe",
    "René",
    "Louis",
    "Gérard",
    "Mamadou",
    "Mohamed",
    "Jacques",
    "Bernard",
    "Élise",
    "Geneviève",
    "Thérèse",
    "Noël",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Diallo",
    "Traoré",
    "Benali",
    "Nguyen",
    "Da Silva",
    "Kaya",
    "Chevalier",
]
STREETS = [
    "rue de la Roquette",
    "boulevard Voltaire",
    "rue des Pyrénées",
    "rue de Charonne",
    "avenue Parmentier",
    "rue Oberkampf",
    "rue de Belleville",
    "rue du Faubourg Saint-Antoine",
    "rue de Vaugirard",
    "rue Lecourbe",
    "avenue de Clichy",
    "rue Ordener",
    "rue de Tolbiac",
    "avenue d'Italie",
    "rue Mouffetard",
    "rue de Rivoli",
    "rue Saint-Honoré",
    "rue Caulaincourt",
]


@dataclass
class DemoSummary:
    antennas: int = 0
    workers: int = 0
    beneficiaries: int = 0
    phones: int = 0
    care_plans: int = 0
    call_events: int = 0
    visits: int = 0
    incomplete_visits: int = 0
    planned_visits: int = 0
    hours: float = 0.0
    funder_mix: dict[str, int] = field(default_factory=dict)


class DemoError(Exception):
    pass


def _phone(rng: random.Random, mobile: bool, used: set[str]) -> str:
    while True:
        if mobile:
            number = f"+33{rng.choice('67')}{rng.randrange(10**8):08d}"
        else:
            number = f"+331{rng.randrange(40, 60)}{rng.randrange(10**6):06d}"
        if number not in used:
            used.add(number)
            return number


def _primary_funder_kind(rng: random.Random) -> FunderKind:
    # About 860 APA, 435 ASL and 900 others out of about 2,195 plans' first funders.
    roll = rng.random()
    if roll < 0.392:
        return FunderKind.APA
    if roll < 0.55:
        return FunderKind.ASL_ELDERLY
    if roll < 0.59:
        return FunderKind.ASL_DISABLED
    if roll < 0.63:
        return FunderKind.PCH
    return rng.choice(
        [FunderKind.PENSION_FUND] * 5
        + [FunderKind.MUTUAL, FunderKind.CPAM, FunderKind.STATE]
        + [FunderKind.PRIVATE] * 3
    )


def load_demo(
    session: Session,
    *,
    seed: int = 2026,
    workers: int = 330,
    beneficiaries: int = 2100,
    days: int = 30,
    now: datetime | None = None,
) -> DemoSummary:
    """Fill an empty database. Refuses a database that already holds an organisation."""
    if session.scalar(select(func.count()).select_from(Antenna)):
        raise DemoError("la base contient déjà une organisation : rien n'a été chargé")
    rng = random.Random(seed)
    now = as_utc(now or utc_now())
    today = paris_date(now)
    first_day = today - timedelta(days=days - 1)
    summary = DemoSummary()

    antenna_ids = []
    for code, name, address, areas in ANTENNAS:
        antenna = Antenna(code=code, name=name, address=address, areas=areas)
        session.add(antenna)
        session.flush()
        antenna_ids.append(antenna.id)
    summary.antennas = len(antenna_ids)

    funder_by_kind: dict[FunderKind, list[Funder]] = {}
    for code, name, kind in FUNDERS:
        funder = Funder(code=code, name=name, kind=kind)
        if kind.is_departement:
            # What the Département's platform would have given each of its funders.
            funder.platform_id = PLATFORM_IDS[code]
            funder.departement_code = "75"
        session.add(funder)
        funder_by_kind.setdefault(kind, []).append(funder)
    session.flush()

    codes = rng.sample(range(1000, 10000), workers)
    worker_rows: list[dict[str, Any]] = []
    for i in range(workers):
        worker_rows.append(
            {
                "external_id": f"SAL{i + 1:05d}",
                "civility": rng.choice([Civility.MRS] * 9 + [Civility.MR]),
                "last_name": rng.choice(LAST_NAMES),
                "first_name": rng.choice(FIRST_NAMES),
                "antenna_id": antenna_ids[i % len(antenna_ids)],
                "phone_code": str(codes[i]),
                "active_from": date(2018, 1, 1) + timedelta(days=rng.randrange(2500)),
                "active_until": None,
            }
        )
    session.execute(insert(Worker), worker_rows)
    worker_ids_by_antenna: dict[int, list[int]] = {}
    for wid, aid in session.execute(select(Worker.id, Worker.antenna_id)):
        worker_ids_by_antenna.setdefault(aid, []).append(wid)
    summary.workers = workers

    used_numbers: set[str] = set()
    ben_rows: list[dict[str, Any]] = []
    for i in range(beneficiaries):
        antenna_index = i % len(antenna_ids)
        postcode = rng.choice(ANTENNAS[antenna_index][3].split(","))
        recent = rng.random() < 0.04
        care_start = (
            today - timedelta(days=rng.randrange(1, 25))
            if recent
            else date(2015, 1, 1) + timedelta(days=rng.randrange(3500))
        )
        ben_rows.append(
            {
                "external_id": f"BEN{i + 1:06d}",
                "civility": rng.choice([Civility.MRS] * 7 + [Civility.MR] * 3),
                "last_name": rng.choice(LAST_NAMES),
                "first_name": rng.choice(FIRST_NAMES),
                "address": f"{rng.randrange(1, 180)} {rng.choice(STREETS)}",
                "postcode": postcode,
                "city": "Paris",
                "birth_date": date(1925, 1, 1) + timedelta(days=rng.randrange(365 * 40)),
                "sex": rng.choice("FFFMM"),
                "gir": rng.choice([1, 2, 2, 3, 3, 4, 4, 4, 5, 6]),
                "antenna_id": antenna_ids[antenna_index],
                "care_start": care_start,
                "care_end": None,
            }
        )
    session.execute(insert(Beneficiary), ben_rows)
    ben_rows_db = session.execute(
        select(Beneficiary.id, Beneficiary.antenna_id, Beneficiary.care_start)
    ).all()
    summary.beneficiaries = len(ben_rows_db)

    phone_rows: list[dict[str, Any]] = []
    plan_rows: list[dict[str, Any]] = []
    numbers_by_ben: dict[int, str] = {}
    for ben_id, _aid, care_start in ben_rows_db:
        count = rng.choices([1, 2, 3], weights=[55, 35, 10])[0]
        for n in range(count):
            mobile = n > 0 or rng.random() < 0.2
            number = _phone(rng, mobile, used_numbers)
            numbers_by_ben.setdefault(ben_id, number)
            phone_rows.append(
                {
                    "beneficiary_id": ben_id,
                    "e164": number,
                    "kind": "mobile" if mobile else "landline",
                    "active_from": care_start,
                    "active_until": None,
                }
            )
        kind = _primary_funder_kind(rng)
        summary.funder_mix[kind.value] = summary.funder_mix.get(kind.value, 0) + 1
        ends_on = today + timedelta(days=rng.randrange(5, 365))
        plan_start = max(care_start, date(2024, 1, 1))
        switch_day = first_day + timedelta(days=rng.randrange(5, max(6, days - 5)))
        if kind is FunderKind.APA and rng.random() < 0.03 and plan_start < switch_day:
            # A pension-fund plan replaced mid-month by APA.
            plan_rows.append(
                _plan(
                    ben_id,
                    funder_by_kind[FunderKind.PENSION_FUND][0],
                    plan_start,
                    switch_day - timedelta(days=1),
                    rng,
                )
            )
            plan_start = switch_day
        plan_rows.append(_plan(ben_id, rng.choice(funder_by_kind[kind]), plan_start, ends_on, rng))
        if rng.random() < 0.06:
            plan_rows.append(
                _plan(
                    ben_id,
                    funder_by_kind[FunderKind.MUTUAL][0],
                    plan_start,
                    today + timedelta(days=rng.randrange(5, 120)),
                    rng,
                    hours=10,
                )
            )
    session.execute(insert(Phone), phone_rows)
    session.execute(insert(CarePlan), plan_rows)
    summary.phones, summary.care_plans = len(phone_rows), len(plan_rows)

    bens_by_antenna: dict[int, list[int]] = {}
    for ben_id, aid, _start in ben_rows_db:
        bens_by_antenna.setdefault(aid, []).append(ben_id)
    _load_month(
        session,
        rng,
        summary,
        worker_ids_by_antenna,
        bens_by_antenna,
        numbers_by_ben,
        first_day,
        today,
        now,
    )
    session.add(
        AuditEntry(
            actor="system:demo",
            action="demo.loaded",
            object_type="organisation",
            object_id=None,
            details={"seed": seed},
        )
    )
    session.flush()
    return summary


def _plan(
    ben_id: int,
    funder: Funder,
    start: date,
    end: date | None,
    rng: random.Random,
    hours: float | None = None,
) -> dict[str, Any]:
    return {
        "beneficiary_id": ben_id,
        "funder_id": funder.id,
        "service_code": SERVICE_BY_KIND[funder.kind],
        "reference": f"{funder.code}-{ben_id:06d}-{start:%Y%m}",
        "max_hours": hours or float(rng.choice([8, 12, 16, 20, 25, 30, 40, 50])),
        "starts_on": start,
        "ends_on": end,
    }


def _day_slots(rng: random.Random, day: date) -> Iterator[tuple[datetime, datetime]]:
    """Two or three visits in a worker's day, in Paris wall-clock time."""
    clock = datetime.combine(day, time(8, 0)) + timedelta(minutes=rng.randrange(0, 90, 5))
    for _ in range(rng.choice([2, 2, 3])):
        length = timedelta(minutes=rng.choice([30, 45, 60, 60, 60, 90, 120]))
        start = clock + timedelta(seconds=rng.randrange(-180, 180))
        end = start + length + timedelta(seconds=rng.randrange(-240, 300))
        yield paris_to_utc(start), paris_to_utc(end)
        clock = clock + length + timedelta(minutes=rng.randrange(20, 90, 5))
        if clock.time() > time(19, 30):
            return


def _load_month(
    session: Session,
    rng: random.Random,
    summary: DemoSummary,
    worker_ids_by_antenna: dict[int, list[int]],
    bens_by_antenna: dict[int, list[int]],
    numbers_by_ben: dict[int, str],
    first_day: date,
    today: date,
    now: datetime,
) -> None:
    next_event_id = (session.scalar(select(func.max(CallEvent.id))) or 0) + 1
    events: list[dict[str, Any]] = []
    facts: list[CallFact] = []
    planned: list[dict[str, Any]] = []
    worker_antenna = {w: a for a, ws in worker_ids_by_antenna.items() for w in ws}

    def add_event(
        at: datetime,
        worker_id: int | None,
        ben_id: int | None,
        direction: Direction,
        identification: Identification = Identification.OK,
        caller: str | None = None,
        digits: str | None = None,
    ) -> None:
        nonlocal next_event_id
        event_id = next_event_id
        next_event_id += 1
        events.append(
            {
                "id": event_id,
                "channel_id": f"demo-{event_id}",
                "received_at": at - timedelta(seconds=2),
                "answered_at": at,
                "code_completed_at": at + timedelta(seconds=rng.randrange(5, 12)),
                "caller_raw": caller or (numbers_by_ben[ben_id] if ben_id else None),
                "caller_e164": caller or (numbers_by_ben[ben_id] if ben_id else None),
                "ani_raw": None,
                "called_number": "0800000000",
                "digits": digits,
                "beneficiary_id": ben_id,
                "worker_id": worker_id,
                "antenna_id": worker_antenna.get(worker_id) if worker_id else None,
                "identification": identification,
                "direction": direction if identification is Identification.OK else None,
                "outcome": CallOutcome.RECORDED,
                "source": CallSource.ARI,
                "recorded_at": at,
            }
        )
        if identification is Identification.OK and worker_id and ben_id:
            facts.append(CallFact(event_id, worker_id, ben_id, at, direction))

    day = first_day
    while day <= today + timedelta(days=1):
        for antenna_id, worker_ids in worker_ids_by_antenna.items():
            bens = bens_by_antenna[antenna_id]
            for worker_id in worker_ids:
                if rng.random() < 0.12:
                    continue  # day off
                for start, end in _day_slots(rng, day):
                    ben_id = rng.choice(bens)
                    if start.date() >= today:
                        planned.append(
                            {
                                "external_id": None,
                                "worker_id": worker_id,
                                "beneficiary_id": ben_id,
                                "antenna_id": antenna_id,
                                "starts_at": start,
                                "ends_at": end,
                                "service_code": None,
                            }
                        )
                    if start > now:
                        continue
                    roll = rng.random()
                    if roll < 0.004:
                        add_event(
                            start,
                            worker_id,
                            None,
                            Direction.ARRIVAL,
                            Identification.UNKNOWN_NUMBER,
                            caller=_phone(rng, True, set()),
                        )
                    elif roll < 0.008:
                        add_event(
                            start,
                            None,
                            ben_id,
                            Direction.ARRIVAL,
                            Identification.UNKNOWN_WORKER,
                            digits="0000",
                        )
                    elif roll > 0.015:
                        add_event(start, worker_id, ben_id, Direction.ARRIVAL, digits=None)
                    if end <= now and not (0.015 < roll < 0.03):
                        add_event(end, worker_id, ben_id, Direction.DEPARTURE)
        day += timedelta(days=1)

    loaded = bulk_record_calls(session, events, facts, author="system:demo")
    summary.incomplete_visits += loaded.incomplete
    summary.hours += loaded.complete_minutes / 60
    visit_rows = range(loaded.visits)
    if planned:
        session.execute(insert(PlannedVisit), planned)
    summary.call_events = len(events)
    summary.visits = len(visit_rows)
    summary.planned_visits = len(planned)
