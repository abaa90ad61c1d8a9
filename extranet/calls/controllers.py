"""Incomplete calls, and attaching a call the IVR could not place."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from extranet.calls import queries
from extranet.calls.forms import AttachForm
from extranet.params import date_arg
from extranet.visits.controllers import antennas
from extranet.visits.queries import choices
from extranet.web import db, int_arg, load_or_404, login_required, now, requires, user
from ledger.models import Beneficiary, CallEvent, Worker
from ledger.pairing import Direction
from ledger.service import LedgerError, attach_call
from ledger.timeutil import paris_date

#: How far back the list looks by default.
DEFAULT_DAYS = 62
#: Items per page (keyset pagination: ``apres`` is the last item of the previous page).
PAGE = 100


@login_required
def incomplete() -> str:
    moment = now()
    since = date_arg("depuis") or paris_date(moment) - timedelta(days=DEFAULT_DAYS)
    antenna_id = int_arg("antenne")
    token = request.args.get("apres", "")
    after = queries.Cursor.parse(token) if token else None
    page = queries.incomplete_page(
        db(), user(), since=since, now=moment, antenna_id=antenna_id, limit=PAGE, after=after
    )
    return render_template(
        "calls/incomplete.html",
        items=page.items,
        next_token=page.next.token() if page.next else None,
        first_page=after is None,
        page_size=PAGE,
        since=since,
        antenna_id=antenna_id,
        antennas=antennas(),
        updated_at=moment,
    )


@requires("can_write")
def attach(event_id: int) -> ResponseReturnValue:
    session = db()
    event = load_or_404(CallEvent, event_id)
    attached = queries.is_attached(session, event.id)
    form = AttachForm()
    form.beneficiary_id.choices = choices(session, user(), Beneficiary)
    form.worker_id.choices = choices(session, user(), Worker)
    if request.method == "GET":
        form.beneficiary_id.data = event.beneficiary_id
        form.worker_id.data = event.worker_id
        form.direction.data = event.direction.value if event.direction else ""
        form.add_phone.data = event.beneficiary_id is None and event.caller_e164 is not None
    error = None
    if not attached and form.validate_on_submit():
        beneficiary = load_or_404(Beneficiary, form.beneficiary_id.data)
        worker = load_or_404(Worker, form.worker_id.data)
        try:
            visit = attach_call(
                session,
                event,
                beneficiary=beneficiary,
                worker=worker,
                direction=Direction(form.direction.data),
                author=user().login,
                comment=form.comment.data or "",
                add_phone=bool(form.add_phone.data),
            )
        except LedgerError as refused:
            session.rollback()
            error = str(refused)
        else:
            session.commit()
            flash("Appel rattaché à l'intervention.", "success")
            return redirect(url_for("visits.detail", visit_id=visit.id))
    status = 422 if (error or form.errors) else 200
    return render_template(
        "calls/attach.html", event=event, form=form, error=error, attached=attached
    ), status
