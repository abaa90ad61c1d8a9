"""What the API reads and answers, as marshmallow schemas: the OpenAPI document
is generated from them (flask-smorest), and schemathesis checks the answers
against it (tests/extranet/api)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from extranet.params import MAX_DATE, MAX_ID, MIN_DATE
from ledger.models import CallOutcome, Civility, Identification, VisitStatus
from ledger.motives import Motive
from ledger.pairing import Direction

#: Items per page at most.
PAGE_MAX = 200
Id = validate.Range(1, MAX_ID)
Day = validate.Range(MIN_DATE, MAX_DATE)
#: The years ``Day`` accepts, said in the document (a range of dates is not JSON Schema).
YEARS = "(19|20|21)[0-9]{2}"
DAY = {"pattern": f"^{YEARS}-"}
#: A month of the years the statistics hold (2000 to 2099).
MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
#: No control character (PostgreSQL refuses NUL in text); a comment keeps tabs and newlines.
LINE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="Caractère de contrôle refusé.")
TEXT = validate.Regexp(
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$", error="Caractère de contrôle refusé."
)


def _values(enum: Any) -> list[str]:
    return [member.value for member in enum]


def _plausible(moment: datetime) -> None:
    """A year the service can hold: 0001-01-01 with an offset has no UTC instant."""
    if not MIN_DATE.year <= moment.year <= MAX_DATE.year:
        raise ValidationError(
            f"L'année doit être comprise entre {MIN_DATE.year} et {MAX_DATE.year}."
        )


def _instant(**kwargs: Any) -> fields.AwareDateTime:
    """An ISO 8601 instant with its offset (``2026-11-20T14:00:00+01:00``)."""
    return fields.AwareDateTime(validate=_plausible, metadata=DAY, **kwargs)


# --- query arguments -------------------------------------------------------


class PageArgs(Schema):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(1, PAGE_MAX),
        metadata={"description": f"Nombre d'éléments par page (1 à {PAGE_MAX}) / page size."},
    )
    after = fields.Integer(
        load_default=None,
        validate=validate.Range(0, MAX_ID),
        metadata={
            "description": "Curseur : l'identifiant `next_after` de la page précédente / "
            "keyset cursor."
        },
    )


class PeopleArgs(PageArgs):
    antenna_id = fields.Integer(validate=Id)
    external_id = fields.String(
        validate=[validate.Length(1, 40), LINE],
        metadata={"description": "Identifiant du logiciel de planification / external id."},
    )


class VisitArgs(PageArgs):
    date_from = fields.Date(
        data_key="from", validate=Day, metadata={**DAY, "description": "Premier jour (Paris)"}
    )
    date_to = fields.Date(
        data_key="to", validate=Day, metadata={**DAY, "description": "Dernier jour (Paris)"}
    )
    antenna_id = fields.Integer(validate=Id)
    worker_id = fields.Integer(validate=Id)
    beneficiary_id = fields.Integer(validate=Id)
    status = fields.String(validate=validate.OneOf(_values(VisitStatus)))


class CallArgs(PageArgs):
    date_from = fields.Date(
        data_key="from", validate=Day, metadata={**DAY, "description": "Reçus ce jour ou après"}
    )
    date_to = fields.Date(
        data_key="to", validate=Day, metadata={**DAY, "description": "Reçus ce jour ou avant"}
    )
    antenna_id = fields.Integer(validate=Id)
    worker_id = fields.Integer(validate=Id)
    beneficiary_id = fields.Integer(validate=Id)


class StatisticsArgs(Schema):
    first = fields.String(
        data_key="from",
        validate=validate.Regexp(MONTH),
        metadata={"description": "Premier mois AAAA-MM (défaut : il y a 5 mois)"},
    )
    last = fields.String(
        data_key="to",
        validate=validate.Regexp(MONTH),
        metadata={"description": "Dernier mois AAAA-MM (défaut : ce mois-ci)"},
    )


# --- bodies ----------------------------------------------------------------


class Motived(Schema):
    motive = fields.String(required=True, validate=validate.OneOf(_values(Motive)))
    comment = fields.String(load_default="", validate=[validate.Length(max=2000), TEXT])


class CorrectionIn(Motived):
    started_at = _instant(load_default=None, allow_none=True)
    ended_at = _instant(load_default=None, allow_none=True)
    #: Moves the visit to another person of its antenna.
    worker_id = fields.Integer(load_default=None, allow_none=True, validate=Id)
    beneficiary_id = fields.Integer(load_default=None, allow_none=True, validate=Id)
    delete = fields.Boolean(load_default=False)


class ManualVisitIn(Motived):
    worker_id = fields.Integer(required=True, validate=Id)
    beneficiary_id = fields.Integer(required=True, validate=Id)
    started_at = _instant(required=True)
    ended_at = _instant(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["ended_at"] <= data["started_at"]:
            raise ValidationError("L'heure de départ doit suivre l'heure d'arrivée.", "ended_at")


# --- answers ---------------------------------------------------------------


def _nullable(field: type[fields.Field], **kwargs: Any) -> fields.Field:
    return field(allow_none=True, required=True, **kwargs)


class CallEventOut(Schema):
    id = fields.Integer(required=True)
    received_at = fields.DateTime(required=True)
    answered_at = fields.DateTime(required=True)
    code_completed_at = _nullable(fields.DateTime)
    caller_raw = _nullable(fields.String)
    caller_e164 = _nullable(fields.String)
    called_number = _nullable(fields.String)
    digits = _nullable(fields.String)
    beneficiary_id = _nullable(fields.Integer)
    worker_id = _nullable(fields.Integer)
    antenna_id = _nullable(fields.Integer)
    identification = fields.String(required=True, validate=validate.OneOf(_values(Identification)))
    direction = _nullable(fields.String, validate=validate.OneOf(_values(Direction)))
    outcome = fields.String(required=True, validate=validate.OneOf(_values(CallOutcome)))
    source = fields.String(required=True)
    recorded_at = fields.DateTime(required=True)


class VersionOut(Schema):
    version = fields.Integer(required=True)
    started_at = _nullable(fields.DateTime)
    ended_at = _nullable(fields.DateTime)
    status = fields.String(required=True, validate=validate.OneOf(_values(VisitStatus)))
    motive = _nullable(fields.String, validate=validate.OneOf(_values(Motive)))
    comment = fields.String(required=True)
    author = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    moved_from_worker_id = _nullable(fields.Integer)
    moved_from_beneficiary_id = _nullable(fields.Integer)


class VisitOut(Schema):
    id = fields.Integer(required=True)
    antenna_id = fields.Integer(required=True)
    worker_id = fields.Integer(required=True)
    beneficiary_id = fields.Integer(required=True)
    service_date = fields.Date(required=True)
    started_at = _nullable(fields.DateTime)
    ended_at = _nullable(fields.DateTime)
    status = fields.String(required=True, validate=validate.OneOf(_values(VisitStatus)))
    service_code = _nullable(fields.String)
    version = fields.Integer(required=True)
    arrival_event_id = _nullable(fields.Integer)
    departure_event_id = _nullable(fields.Integer)
    recorded_minutes = _nullable(
        fields.Integer,
        metadata={"description": "Minutes enregistrées (ledger.money) ; null si non comptée."},
    )


class VisitDetailOut(VisitOut):
    versions = fields.List(fields.Nested(VersionOut), required=True)
    calls = fields.List(
        fields.Nested(CallEventOut),
        required=True,
        metadata={"description": "Appels bruts d'arrivée et de départ / raw calls."},
    )
    nearby_calls = fields.List(
        fields.Nested(CallEventOut),
        required=True,
        metadata={"description": "Autres appels du jour des mêmes personnes (50 au plus)."},
    )


class PhoneOut(Schema):
    e164 = fields.String(required=True)
    kind = fields.String(required=True)
    active_from = fields.Date(required=True)
    active_until = _nullable(fields.Date)


class BeneficiaryOut(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(required=True)
    civility = fields.String(required=True, validate=validate.OneOf(_values(Civility)))
    last_name = fields.String(required=True)
    first_name = fields.String(required=True)
    address = fields.String(required=True)
    postcode = fields.String(required=True)
    city = fields.String(required=True)
    birth_date = _nullable(fields.Date)
    gir = _nullable(fields.Integer)
    antenna_id = fields.Integer(required=True)
    care_start = fields.Date(required=True)
    care_end = _nullable(fields.Date)
    phones = fields.List(fields.Nested(PhoneOut), required=True)


class WorkerOut(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(required=True)
    civility = fields.String(required=True, validate=validate.OneOf(_values(Civility)))
    last_name = fields.String(required=True)
    first_name = fields.String(required=True)
    antenna_id = fields.Integer(required=True)
    active_from = fields.Date(required=True)
    active_until = _nullable(fields.Date)
    language = fields.String(required=True)


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page of ``item``: the items and the cursor of the next page (null: the last)."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_after": fields.Integer(allow_none=True, required=True),
        },
        name=name,
    )


VisitPage = page_of(VisitOut, "VisitPage")
BeneficiaryPage = page_of(BeneficiaryOut, "BeneficiaryPage")
WorkerPage = page_of(WorkerOut, "WorkerPage")
CallEventPage = page_of(CallEventOut, "CallEventPage")


class FigureOut(Schema):
    label = fields.String(required=True)
    month = fields.String(required=True, metadata={"description": "AAAA-MM"})
    value = fields.Float(required=True)


class StatisticsOut(Schema):
    first_month = fields.String(required=True)
    last_month = fields.String(required=True)
    hours_by_antenna = fields.List(
        fields.Nested(FigureOut),
        required=True,
        metadata={"description": "Minutes retenues par antenne et mois (ledger.money)."},
    )
    hours_by_funder = fields.List(
        fields.Nested(FigureOut),
        required=True,
        metadata={"description": "Minutes retenues par financeur et mois (ledger.money)."},
    )
    incomplete_rates = fields.List(
        fields.Nested(FigureOut),
        required=True,
        metadata={"description": "Part (%) des interventions non pointées aux deux bouts."},
    )


class ErrorOut(Schema):
    code = fields.String(required=True, metadata={"description": "Code stable / machine code"})
    message = fields.String(required=True, metadata={"description": "Message en français"})
    details = fields.Dict()
