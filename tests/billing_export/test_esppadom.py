"""The DELIVERY XML against files written by hand from the guide's structure.

The two golden files in ``golden/`` were typed by hand, advice by advice,
from the structure of the implementation guide (docs/flows/esppadom-delivery.md)
and reviewed line by line; nothing regenerates them. If the builder and a
golden file disagree, the builder is wrong until someone shows the guide says
otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from billing_export.ack import AckError, Rejection, parse_ack
from billing_export.esppadom import (
    BeneficiaryInfo,
    BuildError,
    DeliveryFile,
    Provider,
    SchemaError,
    WorkerInfo,
    build_delivery,
    decimal_hours,
    read_delivery,
    safe_parser,
    validate_bytes,
)
from ledger.declarations import Change, ChangeKind, Declared, HoldReason, declarable, diff
from ledger.funders import FunderIdentity
from ledger.money import PlanFact, VisitFact, allocate_month
from ledger.timeutil import Month, paris_to_utc
from tests.billing_export.builders import plan, visit

GOLDEN = Path(__file__).parent / "golden"
OCTOBER = Month(2026, 10)
ISSUED = datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
PROVIDER = Provider(
    "750012345", "Paris Domicile", "12345678900011", "1 place de l'Hôtel de Ville", "75004", "Paris"
)
APA = FunderIdentity(
    "APA75",
    "Département de Paris — APA",
    "APA",
    platform_id="CD75-APA",
    departement_code="75",
    service_codes={"APA-AIDE": "AD01"},
)
CNAV = FunderIdentity("CNAV", "Caisse nationale", "CAISSE")
FUNDERS = {APA.code: APA, CNAV.code: CNAV}
PEOPLE = {
    1: BeneficiaryInfo(
        "BEN000001", "Jeanne", "Martin", date(1931, 4, 2), "12 rue Oberkampf", "75011", "Paris"
    ),
    2: BeneficiaryInfo("BEN000002", "", "Durand", None, "3 rue de la Roquette", "75011", "Paris"),
    3: BeneficiaryInfo(
        "BEN000003", "Paul", "Lefèvre", date(1940, 12, 24), "8 rue des Écoles", "75005", "Paris"
    ),
    4: BeneficiaryInfo("BEN000004", "Rose", "Morel", None, "1 rue Lepic", "75018", "Paris"),
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
        # Two plans of one funder: a visit that fills the first goes on in the second.
        plan(ben=3, hours=1, plan_id=105),
        plan(ben=3, hours=10, plan_id=106, starts=date(2026, 6, 1)),
        # A plan without the Département's reference: its lines are held back.
        plan(ben=4, hours=10, plan_id=107, reference=""),
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
        visit(datetime(2026, 10, 12, 14, 0, 5), 90, ben=3, visit_id=5),  # split 60 + 30, one funder
        visit(datetime(2026, 10, 15, 10), 60, ben=4, worker=8, visit_id=6),  # held back
    ]
    return plans, visits


def first_send() -> tuple[list[Change], list[Any]]:
    plans, visits = golden_data()
    lines, held = declarable(allocate_month(2026, 10, visits, plans), FUNDERS)
    return diff({}, lines, [h.line.key for h in held]), held


def golden_file() -> DeliveryFile:
    changes, _held = first_send()
    return build_delivery(changes, APA, PROVIDER, PEOPLE, WORKERS, OCTOBER, ISSUED)


def declared(changes: list[Change], name: str) -> dict[tuple[int, str], Declared]:
    """What the store holds once ``changes`` are sent (the pure view of ``declarations``)."""
    return {
        c.line.key: Declared(
            c.document_id, c.line, c.line.digest, c.kind is ChangeKind.DELETED, 1, name
        )
        for c in changes
    }


def test_golden_delivery_file() -> None:
    built = golden_file()
    assert built.content == (GOLDEN / "delivery-APA75-2026-10.xml").read_bytes()
    assert built.name == "ESPPADOM-DELIVERY-750012345-APA75-202610-20261102060000.xml"
    # One advice per visit and funder, beneficiary by beneficiary, in time order.
    assert [(c.line.visit_id, c.line.minutes) for c in built.changes] == [
        (1, 60),
        (3, 45),
        (4, 15),
        (2, 120),
        (5, 90),
    ]


def test_a_plan_without_reference_holds_back_only_its_lines() -> None:
    changes, held = first_send()
    assert [(h.line.visit_id, h.reason) for h in held] == [(6, HoldReason.NO_PLAN_REFERENCE)]
    assert 6 not in {c.line.visit_id for c in changes} and len(changes) == 5


def test_corrections_after_a_send_golden_file() -> None:
    """Visit 1's arrival moved by a manager, visit 3 deleted: the next file, by hand."""
    sent, _held = first_send()
    plans, visits = golden_data()
    start = paris_to_utc(datetime(2026, 10, 1, 9, 30))
    corrected = [
        replace(v, started_at=start, adjustment="COA") if v.visit_id == 1 else v
        for v in visits
        if v.visit_id != 3
    ]
    lines, held = declarable(allocate_month(2026, 10, corrected, plans), FUNDERS)
    changes = diff(declared(sent, "first.xml"), lines, [h.line.key for h in held])
    assert [(c.kind, c.document_id, c.adjustment) for c in changes] == [
        (ChangeKind.CHANGED, "V1-APA75-202610", "COA"),
        (ChangeKind.DELETED, "V3-APA75-202610", "SUP"),
        # Unchanged itself, but the APA hours the deleted visit freed now pay all of it.
        (ChangeKind.CHANGED, "V4-APA75-202610", "COD"),
    ]
    built = build_delivery(changes, APA, PROVIDER, PEOPLE, WORKERS, OCTOBER, LATER)
    assert built.content == (GOLDEN / "delivery-APA75-2026-10-corrections.xml").read_bytes()


def test_a_resend_carries_the_same_ids_and_nothing_else_changes() -> None:
    sent, held = first_send()
    plans, visits = golden_data()
    lines, _held = declarable(allocate_month(2026, 10, visits, plans), FUNDERS)
    store = declared(sent, "first.xml")
    assert diff(store, lines, [h.line.key for h in held]) == []
    again = diff(store, lines, [h.line.key for h in held], include_unchanged=True)
    assert [c.document_id for c in again] == [c.document_id for c in sent]
    assert {c.kind for c in again} == {ChangeKind.UNCHANGED}


def test_chunked_writing_gives_the_same_bytes() -> None:
    whole = golden_file()
    changes, _held = first_send()
    for chunk in (1, 2, 3):
        again = build_delivery(
            changes, APA, PROVIDER, PEOPLE, WORKERS, OCTOBER, ISSUED, chunk=chunk
        )
        assert again.content == whole.content


def test_golden_file_is_valid_and_reads_back() -> None:
    items = read_delivery((GOLDEN / "delivery-APA75-2026-10.xml").read_bytes())
    assert [(i.document_id, i.adjustment, i.minutes, str(i.quantity)) for i in items] == [
        ("V1-APA75-202610", "", 60, "1.00"),
        ("V3-APA75-202610", "CRE", 45, "0.75"),
        ("V4-APA75-202610", "COD", 15, "0.25"),
        ("V2-APA75-202610", "", 120, "2.00"),
        ("V5-APA75-202610", "", 90, "1.50"),
    ]
    assert {i.transaction_id for i in items} == {"T20261102060000-APA75"}
    assert {(i.funder_id, i.aid_type, i.local_service_code) for i in items} == {
        ("CD75-APA", "APA", "AD01")
    }
    # The October night in wall time: 01:30 to 02:30 reads as one hour; the quantity says two.
    assert items[3].kept_start.isoformat() == "2026-10-25T01:30:00"
    assert items[3].kept_end.isoformat() == "2026-10-25T02:30:00"


def test_no_hor_and_no_code_on_a_clean_visit() -> None:
    content = golden_file().content
    assert b">HOR<" not in content
    assert [i.adjustment for i in read_delivery(content) if i.clocked_start and i.clocked_end] == [
        "",
        "",
        "",
    ]


def test_the_schema_refuses_hor() -> None:
    with pytest.raises(SchemaError, match="TypeCode"):
        validate_bytes(_mutate("//ram:ActualDespatchCISupplyChainEvent/ram:TypeCode", "HOR"))


def test_clock_in_method_when_configured() -> None:
    changes, _held = first_send()
    built = build_delivery(
        changes, APA, PROVIDER, PEOPLE, WORKERS, OCTOBER, ISSUED, timestamp_method="TEL"
    )
    root = etree.fromstring(built.content)
    ns = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8"}
    ends: Any = root.xpath("//ram:EffectiveCISpecifiedPeriod/*", namespaces=ns)
    # Every clocked end (3 visits with both, 1 with its arrival only) carries the method twice.
    assert len(ends) == 7
    for end in ends:
        methods = [(e.tag.split("}")[1], e.text, e.get("listID")) for e in end[1:]]
        assert methods == [
            ("CustomerIdentificationMethod", "TEL", "ESPPADOM_TIMESTAMP_METHOD"),
            ("SupplierIdentificationMethod", "TEL", "ESPPADOM_TIMESTAMP_METHOD"),
        ]
    assert {i.timestamp_method for i in read_delivery(built.content) if i.clocked_start} == {"TEL"}


def test_a_funder_without_platform_identifier_cannot_be_built() -> None:
    changes, _held = first_send()
    with pytest.raises(BuildError, match="identifiant"):
        build_delivery(
            changes, replace(APA, platform_id=""), PROVIDER, PEOPLE, WORKERS, OCTOBER, ISSUED
        )


def test_both_kinds_of_social_aid_are_household_help() -> None:
    for kind in ("ASL_PA", "ASL_PH"):
        funder = FunderIdentity(f"{kind}75", "Aide sociale", kind, platform_id="CD75-ASL")
        assert funder.effective_aid_type == "AM" and not funder.missing


def test_every_minute_count_survives_decimal_hours() -> None:
    for minutes in range(0, 24 * 60 + 1):
        assert round(float(decimal_hours(minutes)) * 60) == minutes


def _mutate(xpath: str, value: str) -> bytes:
    root = etree.fromstring(golden_file().content)
    ns = {
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8",
        "pie": "urn:un:unece:uncefact:data:standard:PersonInformationEntity:1",
        "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:8",
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
        ("//ram:IssueDateTime", "2026-11-02T06:00:00+01:00", "IssueDateTime"),
        ("//qdt:StartDateTime", "2026-10-01T09:00:00Z", "StartDateTime"),
        ("//ram:OrderLineID", "", "OrderLineID"),
        ("//pie:BirthDate", "1931-04-02", "BirthDate"),
    ],
)
def test_schema_refuses_broken_files(xpath: str, value: str, field: str) -> None:
    with pytest.raises(SchemaError, match=field):
        validate_bytes(_mutate(xpath, value))


def test_builder_refuses_data_that_breaks_the_schema() -> None:
    changes, _held = first_send()
    people = {**PEOPLE, 1: replace(PEOPLE[1], postcode="")}
    with pytest.raises(SchemaError, match="PostcodeCode"):
        build_delivery(changes, APA, PROVIDER, people, WORKERS, OCTOBER, ISSUED)


def test_rejections_lead_back_to_the_visit() -> None:
    assert Rejection("V4711-APA75-202610", "X", "").visit_id == 4711
    assert Rejection("I20261102060000-4711-1", "X", "").visit_id == 4711
    assert Rejection("*", "X", "").visit_id is None


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
