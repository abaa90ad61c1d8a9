"""Visits: the day's visits live, one visit with its history, corrections, manual entry, export."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from extranet.formatting import date_time
from extranet.forms import motive_of
from extranet.params import date_arg
from extranet.scope import scope
from extranet.visits import queries
from extranet.visits.forms import CorrectionForm, ExportForm, ManualVisitForm
from extranet.web import db, int_arg, load_or_404, login_required, now, requires, user
from kernel.settings import money
from ledger.facts import month_billing
from ledger.models import Antenna, Beneficiary, Visit, VisitStatus, Worker
from ledger.money import counts, recorded_minutes
from ledger.service import LedgerError, audit, correct_visit, enter_manual_visit
from ledger.spreadsheet import SafeWriter
from ledger.timeutil import Month, paris_date, paris_to_utc, to_paris

EXPORT_MAX_DAYS = 62
#: Workers (or beneficiaries) per page of the day's visits.
DAY_PAGE = 60


def _date_arg(name: str, default: date) -> date:
    return date_arg(name) or default


def antennas() -> list[Antenna]:
    """Antennas shown in filters: all for central roles, one for a manager."""
    return (
        list(db().scalars(select(Antenna).order_by(Antenna.name)).all())
        if (user().sees_all_antennas)
        else [a for a in [user().antenna] if a is not None]
    )


@login_required
def today() -> str:
    moment = now()
    day = _date_arg("jour", paris_date(moment))
    view = "beneficiaires" if request.args.get("vue") == "beneficiaires" else "intervenants"
    antenna_id = int_arg("antenne")
    after = int_arg("apres")
    session = db()
    by_worker = view == "intervenants"
    ids = queries.day_groups(
        session,
        user(),
        day,
        Worker if by_worker else Beneficiary,
        limit=DAY_PAGE + 1,
        after=after,
        antenna_id=antenna_id,
    )
    following = ids[DAY_PAGE - 1] if len(ids) > DAY_PAGE else None
    ids = ids[:DAY_PAGE]
    visits = queries.visits_of_day(
        session,
        user(),
        day,
        antenna_id,
        worker_ids=ids if by_worker else None,
        beneficiary_ids=None if by_worker else ids,
    )
    groups: dict[int, list[Visit]] = {person: [] for person in ids}
    for visit in visits:
        groups[visit.worker_id if by_worker else visit.beneficiary_id].append(visit)
    statuses = {visit.id: queries.display_status(visit, moment) for visit in visits}
    counts = queries.day_statuses(session, user(), day, moment, antenna_id)
    context = {
        "day": day,
        "view": view,
        "groups": [group for group in groups.values() if group],
        "statuses": statuses,
        "counts": counts,
        "total": sum(counts.values()),
        "updated_at": moment,
        "antenna_id": antenna_id,
        "after": after,
        "following": following,
    }
    if request.args.get("fragment"):
        return render_template("visits/_today_table.html", **context)
    return render_template("visits/today.html", antennas=antennas(), **context)


@login_required
def detail(visit_id: int) -> ResponseReturnValue:
    visit = load_or_404(Visit, visit_id)
    form = CorrectionForm(
        data={
            "started_at": _local(visit.started_at),
            "ended_at": _local(visit.ended_at),
            "worker_id": visit.worker_id,
            "beneficiary_id": visit.beneficiary_id,
        }
    )
    _people_choices(form, visit)
    return _render_detail(visit, form)


def _people_choices(form: CorrectionForm, visit: Visit) -> None:
    """A visit moves only within its antenna: offer that antenna's people."""
    session = db()
    form.worker_id.choices = [
        (w.id, f"{w.last_name} {w.first_name} ({w.external_id})")
        for w in session.scalars(
            scope(
                select(Worker)
                .where(Worker.antenna_id == visit.antenna_id)
                .order_by(Worker.last_name, Worker.first_name),
                user(),
                Worker,
            )
        )
    ]
    form.beneficiary_id.choices = [
        (b.id, f"{b.last_name} {b.first_name} ({b.external_id})")
        for b in session.scalars(
            scope(
                select(Beneficiary)
                .where(Beneficiary.antenna_id == visit.antenna_id)
                .order_by(Beneficiary.last_name, Beneficiary.first_name),
                user(),
                Beneficiary,
            )
        )
    ]


def _local(moment: datetime | None) -> datetime | None:
    """A stored UTC instant as the naive Paris wall time a form shows."""
    return None if moment is None else to_paris(moment).replace(tzinfo=None)


def _render_detail(
    visit: Visit, form: CorrectionForm, error: str | None = None
) -> ResponseReturnValue:
    status = 200 if error is None and not form.errors else 422
    calls = queries.raw_calls(db(), user(), visit)
    return render_template(
        "visits/detail.html",
        visit=visit,
        form=form,
        error=error,
        calls=calls,
        status=queries.display_status(visit, now()),
    ), status


@requires("can_write")
def correct(visit_id: int) -> ResponseReturnValue:
    visit = load_or_404(Visit, visit_id)
    if visit.status is VisitStatus.DELETED:
        abort(409)
    form = CorrectionForm()
    _people_choices(form, visit)
    if not form.worker_id.raw_data:
        form.worker_id.data = visit.worker_id
    if not form.beneficiary_id.raw_data:
        form.beneficiary_id.data = visit.beneficiary_id
    if not form.validate_on_submit():
        return _render_detail(visit, form)
    session = db()
    worker = beneficiary = None
    if form.worker_id.data and form.worker_id.data != visit.worker_id:
        worker = load_or_404(Worker, form.worker_id.data)
    if form.beneficiary_id.data and form.beneficiary_id.data != visit.beneficiary_id:
        beneficiary = load_or_404(Beneficiary, form.beneficiary_id.data)
    try:
        correct_visit(
            session,
            visit,
            started_at=paris_to_utc(form.started_at.data) if form.started_at.data else None,
            ended_at=paris_to_utc(form.ended_at.data) if form.ended_at.data else None,
            motive=motive_of(form.motive.data),
            comment=form.comment.data or "",
            author=user().login,
            delete=bool(form.delete.data),
            worker=worker,
            beneficiary=beneficiary,
        )
    except LedgerError as refused:
        session.rollback()
        visit = load_or_404(Visit, visit_id)
        _people_choices(form, visit)
        return _render_detail(visit, form, str(refused))
    session.commit()
    flash("Intervention corrigée.", "success")
    return redirect(url_for("visits.detail", visit_id=visit.id))


@requires("can_write")
def manual() -> ResponseReturnValue:
    session = db()
    form = ManualVisitForm()
    form.beneficiary_id.choices = queries.choices(session, user(), Beneficiary)
    form.worker_id.choices = queries.choices(session, user(), Worker)
    if request.method == "GET" and int_arg("beneficiaire"):
        form.beneficiary_id.data = int_arg("beneficiaire")
    error = None
    if form.validate_on_submit():
        beneficiary = load_or_404(Beneficiary, form.beneficiary_id.data)
        worker = load_or_404(Worker, form.worker_id.data)
        try:
            visit = enter_manual_visit(
                session,
                worker=worker,
                beneficiary=beneficiary,
                started_at=paris_to_utc(form.started_at.data),
                ended_at=paris_to_utc(form.ended_at.data),
                motive=motive_of(form.motive.data),
                comment=form.comment.data or "",
                author=user().login,
            )
        except LedgerError as refused:
            session.rollback()
            error = str(refused)
        else:
            session.commit()
            flash("Intervention saisie.", "success")
            return redirect(url_for("visits.detail", visit_id=visit.id))
    status = 422 if (error or form.errors) else 200
    return render_template("visits/manual.html", form=form, error=error), status


@login_required
def export() -> Response:
    """The visits of a period as CSV (semicolons, UTF-8 with BOM, for spreadsheets).

    A POST with the CSRF token: the export writes an audit entry, which a link
    from another site must not make a logged-in user write. The entry is
    tagged with the user's own antenna (a manager's), never the one the form
    names, so that no antenna's journal shows another's exports.
    """
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400, description=_first_error(form))
    first, last = form.first.data, form.last.data
    assert first is not None and last is not None
    if last < first or (last - first) > timedelta(days=EXPORT_MAX_DAYS):
        abort(
            400,
            description=f"La période doit aller du premier au dernier jour, "
            f"{EXPORT_MAX_DAYS} jours au plus.",
        )
    antenna_id = form.antenna.data or None
    # Plain columns, not the four objects: a referent's day is thousands of rows, and
    # building and registering an object per entity per row was a fifth of the request.
    query = (
        select(
            Visit.id,
            Visit.service_date,
            Visit.started_at,
            Visit.ended_at,
            Visit.status,
            Visit.antenna_id,
            Antenna.code,
            Worker.last_name,
            Worker.first_name,
            Worker.external_id,
            Beneficiary.last_name,
            Beneficiary.first_name,
            Beneficiary.external_id,
        )
        .join(Worker, Worker.id == Visit.worker_id)
        .join(Beneficiary, Beneficiary.id == Visit.beneficiary_id)
        .join(Antenna, Antenna.id == Visit.antenna_id)
        .where(Visit.service_date >= first, Visit.service_date <= last)
        .order_by(Visit.service_date, Visit.started_at, Visit.id)
    )
    if antenna_id is not None:
        query = query.where(Visit.antenna_id == antenna_id)
    rows = db().execute(scope(query, user(), Visit)).all()
    out = io.StringIO()
    out.write("\ufeff")
    writer = SafeWriter(out)
    writer.writerow(
        [
            "intervention",
            "date",
            "antenne",
            "intervenant",
            "bénéficiaire",
            "arrivée",
            "départ",
            "durée (min)",
            "minutes retenues",
            "répartition",
            "statut",
        ]
    )
    kept = _kept_by_visit(first, last, {row.antenna_id for row in rows}, {row.id for row in rows})
    for (
        visit_id,
        service_date,
        started_at,
        ended_at,
        status,
        _antenna_id,
        antenna_code,
        worker_last,
        worker_first,
        worker_external,
        beneficiary_last,
        beneficiary_first,
        beneficiary_external,
    ) in rows:
        minutes: int | str = ""
        if counts(status.value, started_at, ended_at):
            assert started_at is not None and ended_at is not None
            minutes = recorded_minutes(started_at, ended_at)
        billed = kept.get(visit_id)
        writer.writerow(
            [
                visit_id,
                service_date.isoformat(),
                antenna_code,
                f"{worker_last} {worker_first} ({worker_external})",
                f"{beneficiary_last} {beneficiary_first} ({beneficiary_external})",
                _csv_time(started_at),
                _csv_time(ended_at),
                minutes,
                "" if billed is None else billed[0],
                "" if billed is None else billed[1],
                status.label,
            ]
        )
    audit(
        db(),
        user().login,
        "visits.exported",
        "visit",
        None,
        antenna_id=user().antenna_id,
        first=first.isoformat(),
        last=last.isoformat(),
        antenna_filter=antenna_id,
        rows=len(rows),
    )
    db().commit()
    name = f"interventions-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _first_error(form: ExportForm) -> str:
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return "La demande d'export n'est pas valide."


def _kept_by_visit(
    first: date, last: date, antennas: set[int], visit_ids: set[int]
) -> dict[int, tuple[int, str]]:
    """Visit id -> (kept minutes, "APA75:45 | CNAV:15"), by the ledger's rules of money.

    ``antennas``: those of the exported visits (already in the user's scope): the
    months of the others' beneficiaries need not be allocated. ``visit_ids``: the
    exported visits, the only ones whose shares are written out (a day's export
    allocates its whole month, tens of thousands of visits for a referent, and
    joining every one's shares was a third of the request).
    """
    rules = money().rules
    out: dict[int, tuple[int, str]] = {}
    if not antennas:
        return out
    period, end = Month.of(first), Month.of(last)
    while period <= end:
        _facts, billing = month_billing(db(), period, rules, frozenset(antennas))
        for vb in billing.visits:
            if vb.visit.visit_id not in visit_ids:
                continue
            shares = " | ".join(
                f"{share.plan.funder_code if share.plan else 'hors plan'}:{share.minutes}"
                for share in vb.shares
            )
            out[vb.visit.visit_id] = (vb.kept.minutes, shares)
        period = period.next()
    return out


def _csv_time(moment: datetime | None) -> str:
    return "" if moment is None else date_time(moment)
