"""ESPPADOM DELIVERY v1.4: build, validate and safely parse the XML.

One file per Département funder and month; one ``CrossIndustryDespatchAdvice``
per intervention share (a visit split between two plans appears once per plan,
each with its own slice of the kept period). Every file is validated against
the schema in ``billing_export/schemas`` before it is written; a file that
breaks it raises ``SchemaError`` and is never sent.

Field by field: docs/flows/esppadom-delivery.md.
"""

from __future__ import annotations

import copy
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from ledger.money import MonthBilling, Period, Share, VisitBilling
from ledger.timeutil import to_paris

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILE = SCHEMA_DIR / "esppadom-delivery-1.4.xsd"

NS = "urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8"
PIE = "urn:un:unece:uncefact:data:standard:PersonInformationEntity:1"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:8"
NSMAP: dict[str | None, str] = {None: RAM, "ns": NS, "pie": PIE, "qdt": QDT}
VERSION = "1.4"
#: ESPPADOM_CADRE: the service employs the worker (prestataire).
CADRE_PRESTATAIRE = "PRE"
#: ESPPADOM_CONTACT_PRESTATAIRE: the contact is the worker (intervenant).
CONTACT_WORKER = "INT"
#: Contract kind of the plan (compani-api and the Départements' test files use "P").
CONTRACT_KIND = "P"


class SchemaError(Exception):
    """A generated or received file does not match its schema; nothing was sent."""


def safe_parser() -> etree.XMLParser:
    """No entity expansion, no DTD, no network: the only way this package reads XML."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


_schema: etree.XMLSchema | None = None


def schema() -> etree.XMLSchema:
    global _schema
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(SCHEMA_FILE), safe_parser()))
    return _schema


def validate(document: etree._ElementTree | etree._Element) -> None:
    xsd = schema()
    if not xsd.validate(document):
        log: Any = xsd.error_log
        errors = "; ".join(f"ligne {e.line} : {e.message}" for e in list(log)[:5])
        raise SchemaError(f"fichier ESPPADOM non conforme au schéma : {errors}")


def parse_untrusted(data: bytes) -> etree._ElementTree:
    """Parse bytes from outside; a document type declaration (entities) is refused outright."""
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise SchemaError(f"fichier XML illisible : {exc}") from None
    tree = root.getroottree()
    info: Any = tree.docinfo
    if info.doctype or info.internalDTD is not None:
        raise SchemaError("fichier XML refusé : déclaration DOCTYPE interdite")
    return tree


def validate_bytes(data: bytes) -> etree._ElementTree:
    tree = parse_untrusted(data)
    validate(tree)
    return tree


@dataclass(frozen=True, slots=True)
class Provider:
    """The home-care service sending the file (ShipFrom)."""

    teletransmission_id: str
    name: str
    siret: str
    address: str
    postcode: str
    city: str


@dataclass(frozen=True, slots=True)
class FunderInfo:
    code: str
    name: str
    #: ledger FunderKind value: APA, ASL_PA, ASL_PH or PCH.
    kind: str


@dataclass(frozen=True, slots=True)
class BeneficiaryInfo:
    external_id: str
    first_name: str
    last_name: str
    birth_date: date | None
    address: str
    postcode: str
    city: str


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    external_id: str
    first_name: str
    last_name: str


@dataclass(frozen=True, slots=True)
class DeliveryFile:
    funder: FunderInfo
    name: str
    content: bytes
    #: One per despatch advice: (visit id, minutes) to check totals against the pre-billing.
    interventions: tuple[tuple[int, int], ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def minutes(self) -> int:
        return sum(m for _v, m in self.interventions)


def local_iso(moment: datetime) -> str:
    """Europe/Paris wall time with its offset, to the second (2026-10-25T02:30:00+01:00)."""
    return to_paris(moment).replace(microsecond=0).isoformat()


def decimal_hours(minutes: int) -> str:
    """Minutes as decimal hours with two decimals; round(hours * 60) gives the minutes back."""
    hours = (Decimal(minutes) / Decimal(60)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{hours:.2f}"


def file_name(
    provider: Provider, funder: FunderInfo, year: int, month: int, issued: datetime
) -> str:
    return (
        f"ESPPADOM-DELIVERY-{provider.teletransmission_id}-{funder.code}-"
        f"{year:04d}{month:02d}-{to_paris(issued):%Y%m%d%H%M%S}.xml"
    )


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _token_id(parent: etree._Element, ns: str, value: str) -> None:
    _sub(parent, ns, "ID", value, schemeAgencyName="token", schemeID="token")


def _address(parent: etree._Element, line: str, postcode: str, city: str) -> None:
    address = _sub(parent, PIE, "PostalCITradeAddress")
    _sub(address, PIE, "LineOne", line)
    _sub(address, PIE, "PostcodeCode", postcode)
    _sub(address, PIE, "CityName", city)
    _sub(address, PIE, "CountryID", "FR")


def _agreement(funder: FunderInfo) -> etree._Element:
    agreement = etree.Element(f"{{{RAM}}}ApplicableCIDDHSupplyChainTradeAgreement")
    issuer = _sub(
        _sub(agreement, RAM, "BuyerOrderReferencedCIReferencedDocument"), RAM, "IssuerCITradeParty"
    )
    _token_id(issuer, PIE, funder.code)
    _sub(issuer, PIE, "Name", funder.name)
    contract = _sub(agreement, RAM, "ContractReferencedCIReferencedDocument")
    _sub(contract, QDT, "GlobalID", CONTRACT_KIND, schemeAgencyName="token", schemeID="token")
    return agreement


def _ship_to(beneficiary: BeneficiaryInfo) -> etree._Element:
    ship_to = etree.Element(f"{{{RAM}}}ShipToCITradeParty")
    _token_id(ship_to, PIE, beneficiary.external_id)
    _sub(ship_to, PIE, "Name", f"{beneficiary.first_name} {beneficiary.last_name}".strip())
    if beneficiary.first_name:
        _sub(ship_to, PIE, "FirstName", beneficiary.first_name)
    _sub(ship_to, PIE, "LastName", beneficiary.last_name)
    if beneficiary.birth_date is not None:
        _sub(ship_to, PIE, "BirthDate", beneficiary.birth_date.isoformat())
    _address(ship_to, beneficiary.address, beneficiary.postcode, beneficiary.city)
    return ship_to


def _ship_from(provider: Provider, worker: WorkerInfo) -> etree._Element:
    ship_from = etree.Element(f"{{{RAM}}}ShipFromCITradeParty")
    _token_id(ship_from, PIE, provider.teletransmission_id)
    _sub(ship_from, PIE, "Name", provider.name)
    _sub(ship_from, PIE, "SIRET", provider.siret)
    contact = _sub(ship_from, PIE, "DefinedCITradeContact")
    _token_id(contact, PIE, worker.external_id)
    _sub(contact, PIE, "PersonName", f"{worker.last_name} {worker.first_name}".strip())
    _sub(
        contact,
        PIE,
        "TypeCode",
        CONTACT_WORKER,
        listAgencyName="EDESS",
        listID="ESPPADOM_CONTACT_PRESTATAIRE",
    )
    _address(ship_from, provider.address, provider.postcode, provider.city)
    return ship_from


class _Parts:
    """Sub-trees that repeat from one advice to the next, built once and copied."""

    def __init__(
        self,
        provider: Provider,
        beneficiaries: dict[int, BeneficiaryInfo],
        workers: dict[int, WorkerInfo],
    ) -> None:
        self.provider = provider
        self.beneficiaries = beneficiaries
        self.workers = workers
        # Visits come beneficiary by beneficiary: keep only the current one.
        self._ship_to: tuple[int, etree._Element] | None = None
        self._ship_from: dict[int, etree._Element] = {}

    def ship_to(self, beneficiary_id: int) -> etree._Element:
        if self._ship_to is None or self._ship_to[0] != beneficiary_id:
            self._ship_to = (beneficiary_id, _ship_to(self.beneficiaries[beneficiary_id]))
        return copy.deepcopy(self._ship_to[1])

    def ship_from(self, worker_id: int) -> etree._Element:
        element = self._ship_from.get(worker_id)
        if element is None:
            element = self._ship_from[worker_id] = _ship_from(
                self.provider, self.workers[worker_id]
            )
        return copy.deepcopy(element)


def _skeleton(funder: FunderInfo, issued: str) -> etree._Element:
    """One advice with every fixed part in place; ``_despatch_advice`` copies and fills it."""
    advice = etree.Element(f"{{{NS}}}CrossIndustryDespatchAdvice")
    context = _sub(advice, NS, "CIDDHExchangedDocumentContext")
    _sub(context, RAM, "VersionID", VERSION)
    _sub(context, RAM, "SpecifiedTransactionID")
    document = _sub(advice, NS, "CIDDHExchangedDocument")
    _sub(document, RAM, "ID")
    _sub(document, RAM, "IssueDateTime", issued)

    transaction = _sub(advice, NS, "CIDDHSupplyChainTradeTransaction")
    transaction.append(_agreement(funder))
    delivery = _sub(transaction, RAM, "ApplicableCIDDHSupplyChainTradeDelivery")
    event = _sub(delivery, RAM, "ActualDespatchCISupplyChainEvent")
    _sub(
        event,
        RAM,
        "TypeCode",
        listAgencyName="EDESS",
        listID="ESPPADOM_EFFECTIVITY_AJUST",
    )
    occurrence = _sub(event, RAM, "OccurrenceCISpecifiedPeriod")
    _sub(occurrence, QDT, "StartDateTime")
    _sub(occurrence, QDT, "EndDateTime")

    _sub(transaction, RAM, "ApplicableCIDDHSupplyChainTradeSettlement")
    item = _sub(transaction, RAM, "IncludedCIDDLSupplyChainTradeLineItem")
    line = _sub(item, RAM, "AssociatedCIDDLDocumentLineDocument")
    _sub(line, RAM, "LineID")
    _sub(line, RAM, "OrderLineID")
    quantity = _sub(item, RAM, "SpecifiedCIDDLSupplyChainTradeDelivery")
    _sub(quantity, RAM, "BilledQuantity", unitCode="HUR")
    settlement = _sub(item, RAM, "SpecifiedCIDDLSupplyChainTradeSettlement")
    _sub(
        settlement,
        RAM,
        "CadreIntervention",
        CADRE_PRESTATAIRE,
        listID="ESPPADOM_CADRE",
        listAgencyName="EDESS",
    )
    product = _sub(item, RAM, "SpecifiedCITradeProduct")
    _sub(product, QDT, "ID", funder.kind, listID="ESPPADOM_TYPE_AIDE", listAgencyName="EDESS")
    _sub(product, QDT, "Name")
    return advice


def _effective(clocked_start: datetime | None, clocked_end: datetime | None) -> etree._Element:
    document = etree.Element(f"{{{RAM}}}AdditionalReferencedCIReferencedDocument")
    effective = _sub(document, RAM, "EffectiveCISpecifiedPeriod")
    if clocked_start is not None:
        start = _sub(effective, RAM, "StartDateTime")
        _sub(start, RAM, "CertifiedDateTime", local_iso(clocked_start))
    if clocked_end is not None:
        end = _sub(effective, RAM, "EndDateTime")
        _sub(end, RAM, "CertifiedDateTime", local_iso(clocked_end))
    return document


def _despatch_advice(
    root: etree._Element,
    transaction_id: str,
    skeleton: etree._Element,
    parts: _Parts,
    billing: VisitBilling,
    share: Share,
) -> None:
    """Append one advice: a copy of the skeleton, filled (child positions follow ``_skeleton``)."""
    assert share.plan is not None
    visit = billing.visit
    advice = copy.deepcopy(skeleton)
    advice[0][1].text = transaction_id
    advice[1][0].text = transaction_id
    transaction = advice[2]
    delivery = transaction[1]
    delivery.insert(0, parts.ship_to(visit.beneficiary_id))
    delivery.insert(1, parts.ship_from(visit.worker_id))
    event = delivery[2]
    event[0].text = visit.adjustment
    event[1][0].text = local_iso(share.kept.start)
    event[1][1].text = local_iso(share.kept.end)
    if visit.clocked_start is not None or visit.clocked_end is not None:
        delivery.append(_effective(visit.clocked_start, visit.clocked_end))
    item = transaction[3]
    item[0][0].text = transaction_id
    item[0][1].text = share.plan.reference or f"PLAN-{share.plan.plan_id}"
    item[1][0].text = decimal_hours(share.minutes)
    item[3][1].text = share.plan.service_code
    root.append(advice)


#: Despatch advices validated and serialised together; bounds memory on large months.
CHUNK = 2000


def _new_root() -> etree._Element:
    return etree.Element(f"{{{NS}}}delivery", {"versionID": VERSION}, nsmap=NSMAP)  # type: ignore[arg-type]


def _header_and_footer() -> tuple[bytes, bytes]:
    root = _new_root()
    etree.SubElement(root, f"{{{NS}}}CrossIndustryDespatchAdvice")
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    head, _sep, _rest = text.partition(b"\n  <ns:CrossIndustryDespatchAdvice")
    return head + b"\n", b"</ns:delivery>\n"


def write_delivery(
    out: SupportsWrite[bytes],
    month_billing: MonthBilling,
    funder: FunderInfo,
    provider: Provider,
    beneficiaries: dict[int, BeneficiaryInfo],
    workers: dict[int, WorkerInfo],
    issued: datetime,
    chunk: int = CHUNK,
) -> tuple[tuple[int, int], ...]:
    """Write the validated DELIVERY file of one Département funder for the month.

    Every share of the month whose plan belongs to this funder becomes one
    despatch advice (within or beyond the plan's maximum: the Département
    receives the service done and applies its own ceiling). Minutes outside
    any plan are never sent to a funder.

    Advices are built, validated against the schema and serialised ``chunk``
    at a time under the same root, so the output is byte for byte the pretty
    print of the whole document while memory stays bounded. Raises
    ``SchemaError`` at the first chunk that breaks the schema: the caller
    discards what was written. Returns (visit id, minutes) per advice.
    """
    issued_text = local_iso(issued)
    stamp = to_paris(issued).strftime("%Y%m%d%H%M%S")
    header, footer = _header_and_footer()
    out.write(header)
    interventions: list[tuple[int, int]] = []
    root = _new_root()
    pending = 0
    parts = _Parts(provider, beneficiaries, workers)
    skeleton = _skeleton(funder, issued_text)

    def flush() -> None:
        validate(root)
        body = etree.tostring(root, encoding="UTF-8", pretty_print=True)
        start = body.index(b">\n") + 2
        out.write(body[start : body.rindex(b"</ns:delivery>")])

    for billing in month_billing.visits:
        for index, share in enumerate(billing.shares):
            if share.plan is None or share.plan.funder_code != funder.code:
                continue
            _despatch_advice(
                root,
                f"I{stamp}-{billing.visit.visit_id}-{index + 1}",
                skeleton,
                parts,
                billing,
                share,
            )
            interventions.append((billing.visit.visit_id, share.minutes))
            pending += 1
            if pending == chunk:
                flush()
                root, pending = _new_root(), 0
    if pending:
        flush()
    out.write(footer)
    return tuple(interventions)


def build_delivery(
    month_billing: MonthBilling,
    funder: FunderInfo,
    provider: Provider,
    beneficiaries: dict[int, BeneficiaryInfo],
    workers: dict[int, WorkerInfo],
    issued: datetime,
    chunk: int = CHUNK,
) -> DeliveryFile:
    """``write_delivery`` into memory (tests, small months)."""
    buffer = io.BytesIO()
    interventions = write_delivery(
        buffer, month_billing, funder, provider, beneficiaries, workers, issued, chunk
    )
    name = file_name(provider, funder, month_billing.year, month_billing.month, issued)
    return DeliveryFile(funder, name, buffer.getvalue(), interventions)


@dataclass(frozen=True, slots=True)
class ReadIntervention:
    transaction_id: str
    adjustment: str
    kept: Period
    quantity: Decimal
    order_reference: str


def read_delivery(data: bytes) -> list[ReadIntervention]:
    """Parse (safely) and validate a DELIVERY file: what the Département will read."""
    tree = validate_bytes(data)
    out: list[ReadIntervention] = []
    ns = {"ns": NS, "ram": RAM, "qdt": QDT}
    for advice in tree.getroot().iterfind("ns:CrossIndustryDespatchAdvice", ns):
        start = advice.findtext(".//ram:OccurrenceCISpecifiedPeriod/qdt:StartDateTime", None, ns)
        end = advice.findtext(".//ram:OccurrenceCISpecifiedPeriod/qdt:EndDateTime", None, ns)
        assert start is not None and end is not None  # guaranteed by the schema
        out.append(
            ReadIntervention(
                transaction_id=advice.findtext("ns:CIDDHExchangedDocument/ram:ID", "", ns),
                adjustment=advice.findtext(
                    ".//ram:ActualDespatchCISupplyChainEvent/ram:TypeCode", "", ns
                ),
                kept=Period(datetime.fromisoformat(start), datetime.fromisoformat(end)),
                quantity=Decimal(advice.findtext(".//ram:BilledQuantity", "0", ns)),
                order_reference=advice.findtext(".//ram:OrderLineID", "", ns),
            )
        )
    return out
