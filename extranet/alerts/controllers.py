from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from extranet.alerts.queries import AlertKind, all_alerts
from extranet.models import AlertAck
from extranet.params import parse_id
from extranet.visits.controllers import antennas
from extranet.web import db, int_arg, load_or_404, login_required, now, requires, user
from ledger.models import Absence, Beneficiary, CarePlan
from ledger.service import audit
from ledger.timeutil import paris_date


class AckForm(FlaskForm):
    pass


@login_required
def index() -> str:
    moment = now()
    antenna_id = int_arg("antenne")
    today = paris_date(moment)
    alerts = all_alerts(db(), user(), today, moment, antenna_id)
    return render_template(
        "alerts/index.html",
        alerts=alerts,
        month_start=today.replace(day=1),
        kinds=AlertKind,
        antennas=antennas(),
        antenna_id=antenna_id,
        ack_form=AckForm(),
    )


@requires("can_write")
def acknowledge() -> Response:
    if not AckForm().validate_on_submit():
        abort(400)
    try:
        kind = AlertKind(request.form.get("kind", ""))
        object_id = parse_id(request.form.get("object_id", ""))
    except ValueError:
        abort(400)
    if object_id is None:
        abort(400)
    if kind is AlertKind.INCOMPLETE_CALL:
        abort(400)  # resolved by a correction, never by a click
    if kind is AlertKind.PLAN_ENDING:
        plan = load_or_404(CarePlan, object_id)
        beneficiary = load_or_404(Beneficiary, plan.beneficiary_id)
    elif kind is AlertKind.DEFINITIVE_ABSENCE:
        absence = load_or_404(Absence, object_id)
        beneficiary = load_or_404(Beneficiary, absence.beneficiary_id)
    else:
        beneficiary = load_or_404(Beneficiary, object_id)
    session = db()
    existing = session.scalars(
        select(AlertAck).where(AlertAck.kind == kind.value, AlertAck.object_id == object_id)
    ).first()
    if existing is None:
        session.add(
            AlertAck(
                kind=kind.value,
                object_id=object_id,
                antenna_id=beneficiary.antenna_id,
                acked_by=user().login,
                acked_at=now(),
            )
        )
        audit(
            session,
            user().login,
            "alert.acknowledged",
            {AlertKind.PLAN_ENDING: "care_plan", AlertKind.DEFINITIVE_ABSENCE: "absence"}.get(
                kind, "beneficiary"
            ),
            object_id,
            antenna_id=beneficiary.antenna_id,
            kind=kind.value,
        )
        session.commit()
    flash("Alerte prise en compte.", "success")
    return redirect(url_for("people.beneficiary", beneficiary_id=beneficiary.id))
