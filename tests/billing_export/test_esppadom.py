"""The DELIVERY XML: golden file, schema validation, safe parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from billing_export.ack import AckError, parse_ack
from billing_export.esppadom import (
    BeneficiaryInfo,
    DeliveryFile,
    FunderInfo,
    Provider,
    SchemaError,
    WorkerInfo,
    build_delivery,
    decimal_hours,
    read_delivery,
    safe_parser,
    validate_bytes,
)
from ledger.money import PlanFact, VisitFact, allocate_month
from tests.billing_export.builders import plan, visit

GOLDEN = Path(__file__).parent / "golden"
ISSUED = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
PROVIDER = Provider(
    "750012345", "Paris Domicile", "12345678900011", "1 place de l'Hôtel de Ville", "75004", "Paris"
)
APA = FunderInfo("APA75", "Département de Paris — APA", "APA")
PEOPLE = {
    1: BeneficiaryInfo(
        "BEN000001", "Jeanne", "Martin", date(1931, 4, 2), "12 rue Oberkampf", "75011", "Paris"
    ),
    2: BeneficiaryInfo("BEN000002", "", "Durand", None, "3 rue de la Roquette", "75011", "Paris"),
}
WORKERS = {7: WorkerInfo("SAL00007", "Awa", "Diallo"), 8: WorkerInfo("SAL00008", "Luc", "Petit")}


def golden_data() -> tuple[list[PlanFact], list[VisitFact]]:
    plans = [
        plan(ben=1, hours=2, plan_id=101),
        plan(
            ben=1,
            funder="CNAV",
            kind="CAISSE",
            departement=False,
            service="CAISSE-AIDE",
            plan_id=102,
        ),
        plan(ben=2, hours=30, plan_id=103),
    ]
    manual = replace(
        visit(datetime(2026, 10, 3, 8, 15), 45, ben=1, worker=8, visit_id=3, adjustment="CRE"),
        clocked_start=None,
        clocked_end=None,
    )
    departure_fixed = replace(
        visit(datetime(2026, 10, 6, 9, 0, 31), 90, ben=1, visit_id=4, adjustment="COD"),
        clocked_end=None,
    )
    visits = [
        visit(datetime(2026, 10, 1, 9, 0, 12), 60.5, ben=1, visit_id=1),
        visit(datetime(2026, 10, 25, 1, 30), 120, ben=2, worker=8, visit_id=2),  # DST night
        manual,
        departure_fixed,  # straddles the APA maximum: 15 min APA, the rest pension fund
    ]
    return plans, visits


def golden_file() -> DeliveryFile:
    plans, visits = golden_data()
    billing = allocate_month(2026, 10, visits, plans)
    return build_delivery(billing, APA, PROVIDER, PEOPLE, WORKERS, ISSUED)


def test_golden_delivery_file() -> None:
    built = golden_file()
    path = GOLDEN / "delivery-APA75-2026-10.xml"
    assert built.content == path.read_bytes()
    assert built.name == "ESPPADOM-DELIVERY-750012345-APA75-202610-20261102060000.xml"
    # Beneficiary by beneficiary, in time order; visit 4 only gets what is left of the 2 h.
    assert built.interventions == ((1, 60), (3, 45), (4, 15), (2, 120))


def test_chunked_writing_gives_the_same_bytes() -> None:
    whole = golden_file()
    for chunk in (1, 2, 3):
        plans, visits = golden_data()
        billing = allocate_month(2026, 10, visits, plans)
        again = build_delivery(billing, APA, PROVIDER, PEOPLE, WORKERS, ISSUED, chunk=chunk)
        assert again.content == whole.content


def test_golden_file_is_valid_and_reads_back() -> None:
    items = read_delivery((GOLDEN / "delivery-APA75-2026-10.xml").read_bytes())
    assert [(i.adjustment, i.kept.minutes, str(i.quantity)) for i in items] == [
        ("HOR", 60, "1.00"),
        ("CRE", 45, "0.75"),
        ("COD", 15, "0.25"),
        ("HOR", 120, "2.00"),
    ]
    # The DST night: 01:30 summer time to 02:30 winter time.
    assert items[3].kept.start.isoformat() == "2026-10-25T01:30:00+02:00"
    assert items[3].kept.end.isoformat() == "2026-10-25T02:30:00+01:00"


def test_every_minute_count_survives_decimal_hours() -> None:
    for minutes in range(0, 24 * 60 + 1):
        assert round(float(decimal_hours(minutes)) * 60) == minutes


def _mutate(xpath: str, value: str) -> bytes:
    root = etree.fromstring(golden_file().content)
    ns = {
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8",
        "pie": "urn:un:unece:uncefact:data:standard:PersonInformationEntity:1",
    }
    found: Any = root.xpath(xpath, namespaces=ns)
    found[0].text = value
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("xpath", "value", "field"),
    [
        ("//ram:ActualDespatchCISupplyChainEvent/ram:TypeCode", "XXX", "TypeCode"),
        ("//ram:BilledQuantity", "1.234", "BilledQuantity"),
        ("//pie:SIRET", "123", "SIRET"),
        ("//ram:IssueDateTime", "2026-11-02T06:00:00", "IssueDateTime"),
        ("//ram:OrderLineID", "", "OrderLineID"),
    ],
)
def test_schema_refuses_broken_files(xpath: str, value: str, field: str) -> None:
    with pytest.raises(SchemaError, match=field):
        validate_bytes(_mutate(xpath, value))


def test_builder_refuses_data_that_breaks_the_schema() -> None:
    plans = [plan(ben=1, plan_id=1)]
    billing = allocate_month(2026, 10, [visit(datetime(2026, 10, 1, 9), 30, ben=1)], plans)
    people = {1: replace(PEOPLE[1], postcode="")}
    with pytest.raises(SchemaError, match="PostcodeCode"):
        build_delivery(billing, APA, PROVIDER, people, WORKERS, ISSUED)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE AccuseReception [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<AccuseReception fichier="a.xml" sha256="%s" statut="REJETE" date="2026-11-02T10:00:00+01:00">
<Rejet transaction="I1-1-1" code="X">&secret;</Rejet></AccuseReception>""" % (b"0" * 64)

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<AccuseReception fichier="a.xml" sha256="%s" statut="REJETE" date="2026-11-02T10:00:00+01:00">
<Rejet transaction="I1-1-1" code="X">&lol3;</Rejet></AccuseReception>""" % (b"0" * 64)


@pytest.mark.parametrize("payload", [XXE, LAUGHS])
def test_acknowledgements_with_entities_are_refused(payload: bytes) -> None:
    with pytest.raises(AckError, match="DOCTYPE"):
        parse_ack(payload)


def test_the_safe_parser_never_expands_entities() -> None:
    root = etree.fromstring(XXE, safe_parser())
    text = etree.tostring(root)
    hostname = Path("/etc/hostname").read_bytes().strip()
    assert b"&secret;" in text and (not hostname or hostname not in text)
    root = etree.fromstring(LAUGHS, safe_parser())
    assert b"lollol" not in etree.tostring(root)


def test_delivery_with_a_doctype_is_refused() -> None:
    content = golden_file().content.replace(
        b"<ns:delivery", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<ns:delivery', 1
    )
    with pytest.raises(SchemaError, match="DOCTYPE"):
        validate_bytes(content)
