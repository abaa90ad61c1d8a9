"""The REST API's views: load (through ``extranet.scope``), check, act (through
``ledger.service``), commit once; the same rules as the extranet's forms.

Every list is a keyset page ordered by id: ``?after=<next_after>&limit=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, TypeVar

from marshmallow import RAISE
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from extranet.api.auth import needs, token
from extranet.api.blueprint import bp
from extranet.api.errors import ApiError
from extranet.api.schemas import (
    BeneficiaryOut,
    BeneficiaryPage,
    CallArgs,
    CallEventOut,
    CallEventPage,
    CorrectionIn,
    ManualVisitIn,
    PeopleArgs,
    StatisticsArgs,
    StatisticsOut,
    VisitArgs,
    VisitDetailOut,
    VisitPage,
    WorkerOut,
    WorkerPage,
)
from extranet.models import ApiScope
from extranet.scope import get_in_scope, scope
from extranet.stats import queries as stats
from extranet.stats.controllers import cache
from extranet.visits.queries import raw_calls
from extranet.web import db, now
from ledger.models import Beneficiary, CallEvent, Visit, VisitStatus, Worker
from ledger.money import counts, recorded_minutes
from ledger.motives import Motive
from ledger.service import LedgerError, MonthClosed, correct_visit, enter_manual_visit
from ledger.timeutil import Month, as_utc, paris_date, paris_day_bounds

T = TypeVar("T")
#: Months one statistics call spans at most.
STATISTICS_MAX_MONTHS = 24
FIRST_YEAR, LAST_YEAR = 2000, 2100

READ_ERRORS = (401, 403, 422, 429)
ONE_ERRORS = (401, 403, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422, 429)


def _errors(*statuses: int) -> Any:
    """Document the refusals an operation may answer (``ErrorOut``)."""

    def decorator(view: Any) -> Any:
        for status in statuses:
            view = bp.alt_response(status, response=HTTPStatus(status).name)(view)
        return view

    return decorator


def _load(model: type[T], object_id: int) -> T:
    found = get_in_scope(db(), model, object_id, token())
    if found is None:
        raise ApiError(404)
    return found


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _page(query: Select, id_column: Any, args: dict[str, Any]) -> dict[str, Any]:  # type: ignore[type-arg]
    limit = args["limit"]
    if args["after"] is not None:
        query = query.where(id_column > args["after"])
    rows = list(db().scalars(query.order_by(id_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"rows": rows, "next_after": rows[-1].id if more else None}


def _days(query: Select, column: Any, args: dict[str, Any], instants: bool) -> Select:  # type: ignore[type-arg]
    first: date | None = args.get("date_from")
    last: date | None = args.get("date_to")
    if first is not None and last is not None and last < first:
        raise ApiError(422, message="Le dernier jour (to) précède le premier (from).")
    if instants:
        if first is not None:
            query = query.where(column >= paris_day_bounds(first)[0])
        if last is not None:
            query = query.where(column < paris_day_bounds(last)[1])
        return query
    if first is not None:
        query = query.where(column >= first)
    if last is not None:
        query = query.where(column <= last)
    return query


# --- serialisation ---------------------------------------------------------


def call_dict(event: CallEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "received_at": as_utc(event.received_at),
        "answered_at": as_utc(event.answered_at),
        "code_completed_at": _utc(event.code_completed_at),
        "caller_raw": event.caller_raw,
        "caller_e164": event.caller_e164,
        "called_number": event.called_number,
        "digits": event.digits,
        "beneficiary_id": event.beneficiary_id,
        "worker_id": event.worker_id,
        "antenna_id": event.antenna_id,
        "identification": event.identification.value,
        "direction": None if event.direction is None else event.direction.value,
        "outcome": event.outcome.value,
        "source": event.source.value,
        "recorded_at": as_utc(event.recorded_at),
    }


def visit_dict(visit: Visit) -> dict[str, Any]:
    minutes = None
    if counts(visit.status.value, visit.started_at, visit.ended_at):
        assert visit.started_at is not None and visit.ended_at is not None
        minutes = recorded_minutes(visit.started_at, visit.ended_at)
    return {
        "id": visit.id,
        "antenna_id": visit.antenna_id,
        "worker_id": visit.worker_id,
        "beneficiary_id": visit.beneficiary_id,
        "service_date": visit.service_date,
        "started_at": _utc(visit.started_at),
        "ended_at": _utc(visit.ended_at),
        "status": visit.status.value,
        "service_code": visit.service_code,
        "version": visit.version,
        "arrival_event_id": visit.arrival_event_id,
        "departure_event_id": visit.departure_event_id,
        "recorded_minutes": minutes,
    }


def visit_detail(visit: Visit) -> dict[str, Any]:
    calls = raw_calls(db(), token(), visit)
    return {
        **visit_dict(visit),
        "versions": [
            {
                "version": v.version,
                "started_at": _utc(v.started_at),
                "ended_at": _utc(v.ended_at),
                "status": v.status.value,
                "motive": None if v.motive is None else v.motive.value,
                "comment": v.comment,
                "author": v.author,
                "created_at": as_utc(v.created_at),
                "moved_from_worker_id": v.moved_from_worker_id,
                "moved_from_beneficiary_id": v.moved_from_beneficiary_id,
            }
            for v in visit.versions
        ],
        "calls": [call_dict(e) for e in calls.own],
        "nearby_calls": [call_dict(e) for e in calls.nearby],
    }


def beneficiary_dict(ben: Beneficiary) -> dict[str, Any]:
    return {
        "id": ben.id,
        "external_id": ben.external_id,
        "civility": ben.civility.value,
        "last_name": ben.last_name,
        "first_name": ben.first_name,
        "address": ben.address,
        "postcode": ben.postcode,
        "city": ben.city,
        "birth_date": ben.birth_date,
        "gir": ben.gir,
        "antenna_id": ben.antenna_id,
        "care_start": ben.care_start,
        "care_end": ben.care_end,
        "phones": [
            {
                "e164": p.e164,
                "kind": p.kind,
                "active_from": p.active_from,
                "active_until": p.active_until,
            }
            for p in sorted(ben.phones, key=lambda p: (p.active_from, p.id))
        ],
    }


def worker_dict(worker: Worker) -> dict[str, Any]:
    return {
        "id": worker.id,
        "external_id": worker.external_id,
        "civility": worker.civility.value,
        "last_name": worker.last_name,
        "first_name": worker.first_name,
        "antenna_id": worker.antenna_id,
        "active_from": worker.active_from,
        "active_until": worker.active_until,
        "language": worker.language,
    }


# --- visits ----------------------------------------------------------------


def _by_people(
    model: type[Visit] | type[CallEvent], query: Select[Any], args: dict[str, Any]
) -> Select[Any]:
    """The antenna, worker and beneficiary filters that visits and call events share."""
    for name in ("antenna_id", "worker_id", "beneficiary_id"):
        if args.get(name) is not None:
            query = query.where(getattr(model, name) == args[name])
    return query


@bp.route("/visits", methods=["GET"])
@bp.arguments(VisitArgs, location="query", unknown=RAISE)
@bp.response(200, VisitPage)
@_errors(*READ_ERRORS)
@needs(ApiScope.READ)
def visits(args: dict[str, Any]) -> dict[str, Any]:
    """Interventions / visits (filtres : jours, antenne, intervenant, bénéficiaire, statut)."""
    query = _days(select(Visit), Visit.service_date, args, instants=False)
    query = _by_people(Visit, query, args)
    if args.get("status"):
        query = query.where(Visit.status == VisitStatus(args["status"]))
    page = _page(scope(query, token(), Visit), Visit.id, args)
    return {"items": [visit_dict(v) for v in page["rows"]], "next_after": page["next_after"]}


@bp.route("/visits/<int:visit_id>", methods=["GET"])
@bp.response(200, VisitDetailOut)
@_errors(*ONE_ERRORS)
@needs(ApiScope.READ)
def visit(visit_id: int) -> dict[str, Any]:
    """Une intervention avec toutes ses versions et ses appels bruts / one visit."""
    return visit_detail(_load(Visit, visit_id))


@bp.route("/visits/<int:visit_id>/corrections", methods=["POST"])
@bp.arguments(CorrectionIn)
@bp.response(200, VisitDetailOut)
@_errors(*WRITE_ERRORS)
@needs(ApiScope.WRITE)
def correct(body: dict[str, Any], visit_id: int) -> dict[str, Any]:
    """Corriger une intervention (nouvelle version, motif obligatoire) / correct a visit.

    Mêmes règles que l'extranet : un mois clôturé refuse (409 `month_closed`),
    une règle du registre refuse (422 `rule_refused`).
    """
    found = _load(Visit, visit_id)
    if found.status is VisitStatus.DELETED:
        raise ApiError(409, "visit_deleted", "Cette intervention est supprimée.")
    worker = beneficiary = None
    if body["worker_id"] and body["worker_id"] != found.worker_id:
        worker = _load(Worker, body["worker_id"])
    if body["beneficiary_id"] and body["beneficiary_id"] != found.beneficiary_id:
        beneficiary = _load(Beneficiary, body["beneficiary_id"])
    session = db()
    with _refusals():
        correct_visit(
            session,
            found,
            started_at=_utc(body["started_at"]),
            ended_at=_utc(body["ended_at"]),
            motive=Motive(body["motive"]),
            comment=body["comment"],
            author=token().actor,
            delete=body["delete"],
            worker=worker,
            beneficiary=beneficiary,
        )
    session.commit()
    return visit_detail(_load(Visit, visit_id))


@bp.route("/visits", methods=["POST"])
@bp.arguments(ManualVisitIn)
@bp.response(201, VisitDetailOut)
@_errors(*WRITE_ERRORS)
@needs(ApiScope.WRITE)
def manual(body: dict[str, Any]) -> dict[str, Any]:
    """Saisir une intervention non pointée, avec son motif / enter a manual visit."""
    beneficiary = _load(Beneficiary, body["beneficiary_id"])
    worker = _load(Worker, body["worker_id"])
    session = db()
    with _refusals():
        created = enter_manual_visit(
            session,
            worker=worker,
            beneficiary=beneficiary,
            started_at=as_utc(body["started_at"]),
            ended_at=as_utc(body["ended_at"]),
            motive=Motive(body["motive"]),
            comment=body["comment"],
            author=token().actor,
        )
    session.commit()
    return visit_detail(_load(Visit, created.id))


@contextmanager
def _refusals() -> Iterator[None]:
    """The ledger's refusals as API errors, the transaction rolled back."""
    try:
        yield
    except MonthClosed as refused:
        db().rollback()
        raise ApiError(409, "month_closed", str(refused)) from None
    except LedgerError as refused:
        db().rollback()
        raise ApiError(422, "rule_refused", str(refused)) from None


# --- people and calls ------------------------------------------------------


def _people(
    query: Any, model: Any, args: dict[str, Any], as_dict: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """One page of beneficiaries or workers in the token's scope, filtered as asked."""
    if args.get("antenna_id") is not None:
        query = query.where(model.antenna_id == args["antenna_id"])
    if args.get("external_id"):
        query = query.where(model.external_id == args["external_id"])
    page = _page(scope(query, token(), model), model.id, args)
    return {"items": [as_dict(row) for row in page["rows"]], "next_after": page["next_after"]}


@bp.route("/beneficiaries", methods=["GET"])
@bp.arguments(PeopleArgs, location="query", unknown=RAISE)
@bp.response(200, BeneficiaryPage)
@_errors(*READ_ERRORS)
@needs(ApiScope.READ)
def beneficiaries(args: dict[str, Any]) -> dict[str, Any]:
    """Bénéficiaires / beneficiaries, avec leurs numéros de téléphone."""
    query = select(Beneficiary).options(selectinload(Beneficiary.phones))
    return _people(query, Beneficiary, args, beneficiary_dict)


@bp.route("/beneficiaries/<int:beneficiary_id>", methods=["GET"])
@bp.response(200, BeneficiaryOut)
@_errors(*ONE_ERRORS)
@needs(ApiScope.READ)
def beneficiary(beneficiary_id: int) -> dict[str, Any]:
    """Un bénéficiaire / one beneficiary."""
    return beneficiary_dict(_load(Beneficiary, beneficiary_id))


@bp.route("/workers", methods=["GET"])
@bp.arguments(PeopleArgs, location="query", unknown=RAISE)
@bp.response(200, WorkerPage)
@_errors(*READ_ERRORS)
@needs(ApiScope.READ)
def workers(args: dict[str, Any]) -> dict[str, Any]:
    """Intervenants / workers (sans leur code téléphonique)."""
    return _people(select(Worker), Worker, args, worker_dict)


@bp.route("/workers/<int:worker_id>", methods=["GET"])
@bp.response(200, WorkerOut)
@_errors(*ONE_ERRORS)
@needs(ApiScope.READ)
def worker(worker_id: int) -> dict[str, Any]:
    """Un intervenant / one worker."""
    return worker_dict(_load(Worker, worker_id))


@bp.route("/call-events", methods=["GET"])
@bp.arguments(CallArgs, location="query", unknown=RAISE)
@bp.response(200, CallEventPage)
@_errors(*READ_ERRORS)
@needs(ApiScope.READ)
def call_events(args: dict[str, Any]) -> dict[str, Any]:
    """Appels bruts du serveur vocal / raw call events (jours de réception, heure de Paris)."""
    query = _days(select(CallEvent), CallEvent.received_at, args, instants=True)
    query = _by_people(CallEvent, query, args)
    page = _page(scope(query, token(), CallEvent), CallEvent.id, args)
    return {"items": [call_dict(e) for e in page["rows"]], "next_after": page["next_after"]}


@bp.route("/call-events/<int:event_id>", methods=["GET"])
@bp.response(200, CallEventOut)
@_errors(*ONE_ERRORS)
@needs(ApiScope.READ)
def call_event(event_id: int) -> dict[str, Any]:
    """Un appel brut / one raw call event."""
    return call_dict(_load(CallEvent, event_id))


# --- statistics ------------------------------------------------------------


def _month(raw: str | None, default: Month) -> Month:
    if not raw:
        return default
    try:
        found = Month.parse(raw)
    except ValueError as error:
        raise ApiError(422, message=str(error)) from None
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise ApiError(
            422, message=f"L'année doit être comprise entre {FIRST_YEAR} et {LAST_YEAR}."
        )
    return found


def _figures(table: stats.Table) -> list[dict[str, Any]]:
    return [
        {"label": label, "month": f"{year:04d}-{month:02d}", "value": value}
        for label, cells in table.rows.items()
        for (year, month), value in sorted(cells.items())
    ]


@bp.route("/statistics", methods=["GET"])
@bp.arguments(StatisticsArgs, location="query", unknown=RAISE)
@bp.response(200, StatisticsOut)
@_errors(*READ_ERRORS)
@needs(ApiScope.READ)
def statistics(args: dict[str, Any]) -> dict[str, Any]:
    """Heures retenues par antenne et par financeur, taux d'appels incomplets, par mois.

    Les minutes viennent des règles du registre (`ledger.money` par
    `ledger.facts`), comme la pré-facturation et la page Statistiques.
    """
    today = paris_date(now())
    last = _month(args.get("last"), Month.of(today))
    default_first = Month.of(today)
    for _ in range(5):
        default_first = default_first.previous()
    first = _month(args.get("first"), default_first)
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if not 1 <= months <= STATISTICS_MAX_MONTHS:
        raise ApiError(
            422,
            message=f"La période va du premier au dernier mois, {STATISTICS_MAX_MONTHS} mois "
            "au plus.",
        )
    session, viewer = db(), token()
    first_day, last_day = first.first_day, last.last_day

    def compute() -> dict[str, Any]:
        by_antenna, by_funder = stats.hours_tables(session, viewer, first_day, last_day)
        return {
            "first_month": str(first),
            "last_month": str(last),
            "hours_by_antenna": _figures(by_antenna),
            "hours_by_funder": _figures(by_funder),
            "incomplete_rates": _figures(
                stats.incomplete_rates(session, viewer, first_day, last_day)
            ),
        }

    key = ("api", viewer.antenna_id, viewer.sees_all_antennas, str(first), str(last), today)
    figures, _cached = cache().get_or_compute(key, compute)
    return figures  # type: ignore[no-any-return]
