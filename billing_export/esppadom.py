"""ESPPADOM DELIVERY v1.4: build, validate and safely parse the XML.

One file per Département funder; one ``CrossIndustryDespatchAdvice`` per
declaration (``ledger.declarations``: one visit and one funder), carrying the
declaration's stable document id. What goes in a file (everything, or only
what changed since the last send) is decided by the caller; this module
turns declarations into XML. Every file is validated against the schema in
``billing_export/schemas`` while it is written; a file that breaks it raises
``SchemaError`` and is never sent.

Field by field: docs/flows/esppadom-delivery.md.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from ledger.declarations import Change, ChangeKind, DeclarationLine
from ledger.funders import EDESS_AID_TYPES, FunderIdentity
from ledger.timeutil import Month, to_paris

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
#: The list of services; a funder's local codes go under the funder's own agency.
SERVICE_LIST = "ESPPADOM_PREST"


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
    funder: FunderIdentity
    name: str
    content: bytes
    #: The declarations in the file, in file order.
    changes: tuple[Change, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def minutes(self) -> int:
        return sum(c.line.minutes for c in self.changes)


def wall_time(moment: datetime) -> str:
    """Europe/Paris wall time without offset, to the second (``2026-10-25T02:30:00``).

    The form the Départements' platforms are known to read (decision 0505); the
    two 02:30 of the October night are then alike, and BilledQuantity says
    how long the visit really was.
    """
    return to_paris(moment).replace(microsecond=0, tzinfo=None).isoformat()


def local_iso(moment: datetime) -> str:
    """Europe/Paris wall time with its offset, to the second, for files people read (CSV)."""
    return to_paris(moment).replace(microsecond=0).isoformat()


def decimal_hours(minutes: int) -> str:
    """Minutes as decimal hours with two decimals; round(hours * 60) gives the minutes back."""
    hours = (Decimal(minutes) / Decimal(60)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{hours:.2f}"


def file_name(provider: Provider, funder: FunderIdentity, month: Month, issued: datetime) -> str:
    return (
        f"ESPPADOM-DELIVERY-{provider.teletransmission_id}-{funder.code}-"
        f"{month.year:04d}{month.month:02d}-{to_paris(issued):%Y%m%d%H%M%S}.xml"
    )


def transaction_id(funder: FunderIdentity, issued: datetime) -> str:
    """The file's postmark: one transaction number for every document of the file."""
    return f"T{to_paris(issued):%Y%m%d%H%M%S}-{funder.code}"


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


def _agreement(funder: FunderIdentity) -> etree._Element:
    agreement = etree.Element(f"{{{RAM}}}ApplicableCIDDHSupplyChainTradeAgreement")
    issuer = _sub(
        _sub(agreement, RAM, "BuyerOrderReferencedCIReferencedDocument"), RAM, "IssuerCITradeParty"
    )
    _token_id(issuer, PIE, funder.platform_id)
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
        _sub(ship_to, PIE, "BirthDate", f"{beneficiary.birth_date.isoformat()}T00:00:00")
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
        # Declarations come beneficiary by beneficiary: keep only the current one.
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


def _skeleton(funder: FunderIdentity, transaction: str, issued: str) -> etree._Element:
    """One advice with every fixed part in place; ``_despatch_advice`` copies and fills it."""
    advice = etree.Element(f"{{{NS}}}CrossIndustryDespatchAdvice")
    context = _sub(advice, NS, "CIDDHExchangedDocumentContext")
    _sub(context, RAM, "VersionID", VERSION)
    _sub(context, RAM, "SpecifiedTransactionID", transaction)
    document = _sub(advice, NS, "CIDDHExchangedDocument")
    _sub(document, RAM, "ID")
    _sub(document, RAM, "IssueDateTime", issued)

    trade = _sub(advice, NS, "CIDDHSupplyChainTradeTransaction")
    trade.append(_agreement(funder))
    delivery = _sub(trade, RAM, "ApplicableCIDDHSupplyChainTradeDelivery")
    event = _sub(delivery, RAM, "ActualDespatchCISupplyChainEvent")
    occurrence = _sub(event, RAM, "OccurrenceCISpecifiedPeriod")
    _sub(occurrence, QDT, "StartDateTime")
    _sub(occurrence, QDT, "EndDateTime")

    _sub(trade, RAM, "ApplicableCIDDHSupplyChainTradeSettlement")
    item = _sub(trade, RAM, "IncludedCIDDLSupplyChainTradeLineItem")
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
    _sub(
        product,
        QDT,
        "ID",
        funder.effective_aid_type,
        listID="ESPPADOM_TYPE_AIDE",
        listAgencyName="EDESS",
    )
    _sub(product, QDT, "Name")
    return advice


def _clock_end(parent: etree._Element, tag: str, moment: datetime, method: str) -> etree._Element:
    end = _sub(parent, RAM, tag)
    _sub(end, RAM, "CertifiedDateTime", wall_time(moment))
    if method:
        for who in ("CustomerIdentificationMethod", "SupplierIdentificationMethod"):
            _sub(
                end,
                RAM,
                who,
                method,
                listID="ESPPADOM_TIMESTAMP_METHOD",
                listAgencyName="EDESS",
            )
    return end


def _effective(line: DeclarationLine, method: str) -> etree._Element:
    document = etree.Element(f"{{{RAM}}}AdditionalReferencedCIReferencedDocument")
    effective = _sub(document, RAM, "EffectiveCISpecifiedPeriod")
    if line.clocked_start is not None:
        _clock_end(effective, "StartDateTime", line.clocked_start, method)
    if line.clocked_end is not None:
        _clock_end(effective, "EndDateTime", line.clocked_end, method)
    return document


def _despatch_advice(
    root: etree._Element,
    skeleton: etree._Element,
    parts: _Parts,
    funder: FunderIdentity,
    change: Change,
    method: str,
) -> None:
    """Append one advice: a copy of the skeleton, filled (child positions follow ``_skeleton``)."""
    line = change.line
    advice = copy.deepcopy(skeleton)
    advice[1][0].text = change.document_id
    trade = advice[2]
    delivery = trade[1]
    delivery.insert(0, parts.ship_to(line.beneficiary_id))
    delivery.insert(1, parts.ship_from(line.worker_id))
    event = delivery[2]
    if change.adjustment:
        code = etree.Element(
            f"{{{RAM}}}TypeCode", listAgencyName="EDESS", listID="ESPPADOM_EFFECTIVITY_AJUST"
        )
        code.text = change.adjustment
        event.insert(0, code)
    event[-1][0].text = wall_time(line.kept.start)
    event[-1][1].text = wall_time(line.kept.end)
    if line.clocked_start is not None or line.clocked_end is not None:
        delivery.append(_effective(line, method))
    item = trade[3]
    item[0][0].text = change.document_id
    item[0][1].text = line.order_reference
    item[1][0].text = decimal_hours(line.minutes)
    product = item[3]
    local = funder.local_service_code(line.service_code)
    if local:
        code = etree.Element(f"{{{QDT}}}ID", listID=SERVICE_LIST, listAgencyName=funder.platform_id)
        code.text = local
        product.insert(1, code)
    product[-1].text = line.service_code
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


class BuildError(ValueError):
    """Declarations that cannot be written for this funder (a caller's mistake)."""


def write_delivery(
    out: SupportsWrite[bytes],
    changes: Iterable[Change],
    funder: FunderIdentity,
    provider: Provider,
    beneficiaries: dict[int, BeneficiaryInfo],
    workers: dict[int, WorkerInfo],
    issued: datetime,
    *,
    timestamp_method: str = "",
    chunk: int = CHUNK,
) -> tuple[Change, ...]:
    """Write the validated DELIVERY file of one Département funder.

    One despatch advice per declaration, in the order given (beneficiary by
    beneficiary, in time order, from ``ledger.declarations.diff``), each under
    its stable document id; a deletion carries SUP and the content it
    replaces. ``timestamp_method``: the ESPPADOM_TIMESTAMP_METHOD code put on
    each clock-in, none when empty.

    Advices are built, validated against the schema and serialised ``chunk``
    at a time under the same root, so the output is byte for byte the pretty
    print of the whole document while memory stays bounded. Raises
    ``SchemaError`` at the first chunk that breaks the schema: the caller
    discards what was written. Returns the declarations written.
    """
    if funder.missing:
        raise BuildError(f"{funder.code} : " + " ; ".join(funder.missing))
    if funder.effective_aid_type not in EDESS_AID_TYPES:  # the schema cannot tie it to the list
        raise BuildError(f"{funder.code} : type d'aide hors liste EDESS")
    issued_text = wall_time(issued)
    header, footer = _header_and_footer()
    out.write(header)
    written: list[Change] = []
    root = _new_root()
    pending = 0
    parts = _Parts(provider, beneficiaries, workers)
    skeleton = _skeleton(funder, transaction_id(funder, issued), issued_text)

    def flush() -> None:
        validate(root)
        body = etree.tostring(root, encoding="UTF-8", pretty_print=True)
        start = body.index(b">\n") + 2
        out.write(body[start : body.rindex(b"</ns:delivery>")])

    for change in changes:
        if change.line.funder_code != funder.code:
            raise BuildError(f"déclaration {change.document_id} d'un autre financeur")
        _despatch_advice(root, skeleton, parts, funder, change, timestamp_method)
        written.append(change)
        pending += 1
        if pending == chunk:
            flush()
            root, pending = _new_root(), 0
    if pending:
        flush()
    out.write(footer)
    return tuple(written)


def build_delivery(
    changes: Iterable[Change],
    funder: FunderIdentity,
    provider: Provider,
    beneficiaries: dict[int, BeneficiaryInfo],
    workers: dict[int, WorkerInfo],
    month: Month,
    issued: datetime,
    *,
    timestamp_method: str = "",
    chunk: int = CHUNK,
) -> DeliveryFile:
    """``write_delivery`` into memory (tests, small months)."""
    buffer = io.BytesIO()
    written = write_delivery(
        buffer,
        changes,
        funder,
        provider,
        beneficiaries,
        workers,
        issued,
        timestamp_method=timestamp_method,
        chunk=chunk,
    )
    name = file_name(provider, funder, month, issued)
    return DeliveryFile(funder, name, buffer.getvalue(), written)


@dataclass(frozen=True, slots=True)
class ReadIntervention:
    """One advice as the Département's platform reads it (times naive, Paris wall time)."""

    transaction_id: str
    document_id: str
    #: "" when the advice carries no correction code.
    adjustment: str
    kept_start: datetime
    kept_end: datetime
    quantity: Decimal
    order_reference: str
    funder_id: str
    aid_type: str
    local_service_code: str
    clocked_start: datetime | None
    clocked_end: datetime | None
    timestamp_method: str

    @property
    def minutes(self) -> int:
        """Minutes from BilledQuantity (the period's wall times can lie on the October night)."""
        return round(self.quantity * 60)


def read_delivery(data: bytes) -> list[ReadIntervention]:
    """Parse (safely) and validate a DELIVERY file: what the Département will read."""
    tree = validate_bytes(data)
    out: list[ReadIntervention] = []
    ns = {"ns": NS, "ram": RAM, "qdt": QDT, "pie": PIE}

    def moment(element: etree._Element, path: str) -> datetime | None:
        text = element.findtext(path, None, ns)
        return datetime.fromisoformat(text) if text else None

    for advice in tree.getroot().iterfind("ns:CrossIndustryDespatchAdvice", ns):
        start = moment(advice, ".//ram:OccurrenceCISpecifiedPeriod/qdt:StartDateTime")
        end = moment(advice, ".//ram:OccurrenceCISpecifiedPeriod/qdt:EndDateTime")
        assert start is not None and end is not None  # guaranteed by the schema
        product = advice.find(".//ram:SpecifiedCITradeProduct", ns)
        assert product is not None
        ids = {e.get("listID"): e.text or "" for e in product.iterfind("qdt:ID", ns)}
        effective = ".//ram:EffectiveCISpecifiedPeriod"
        certified = "ram:CertifiedDateTime"
        out.append(
            ReadIntervention(
                transaction_id=advice.findtext(
                    "ns:CIDDHExchangedDocumentContext/ram:SpecifiedTransactionID", "", ns
                ),
                document_id=advice.findtext("ns:CIDDHExchangedDocument/ram:ID", "", ns),
                adjustment=advice.findtext(
                    ".//ram:ActualDespatchCISupplyChainEvent/ram:TypeCode", "", ns
                ),
                kept_start=start,
                kept_end=end,
                quantity=Decimal(advice.findtext(".//ram:BilledQuantity", "0", ns)),
                order_reference=advice.findtext(".//ram:OrderLineID", "", ns),
                funder_id=advice.findtext(".//ram:IssuerCITradeParty/pie:ID", "", ns),
                aid_type=ids.get("ESPPADOM_TYPE_AIDE", ""),
                local_service_code=ids.get(SERVICE_LIST, ""),
                clocked_start=moment(advice, f"{effective}/ram:StartDateTime/{certified}"),
                clocked_end=moment(advice, f"{effective}/ram:EndDateTime/{certified}"),
                timestamp_method=advice.findtext(
                    f"{effective}//ram:CustomerIdentificationMethod", "", ns
                ),
            )
        )
    return out


__all__ = [
    "BeneficiaryInfo",
    "BuildError",
    "ChangeKind",
    "DeliveryFile",
    "Provider",
    "ReadIntervention",
    "SchemaError",
    "WorkerInfo",
    "build_delivery",
    "decimal_hours",
    "file_name",
    "local_iso",
    "read_delivery",
    "safe_parser",
    "validate",
    "validate_bytes",
    "wall_time",
    "write_delivery",
]
