"""Clôture mensuelle: what is left to correct, the pro-forma per funder, validate, close, reopen.

Central referents see every antenna, validate each funder's pro-forma, close
and reopen the month. Antenna managers see their antenna: what they must still
correct, and the pro-forma read-only. Each request loads, checks access, then
acts in one transaction (``ledger.closures`` audits every transition).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from extranet.closing import queries
from extranet.closing.forms import ConfirmForm, ReopenForm
from extranet.scope import can_access
from extranet.visits.controllers import antennas
from extranet.web import db, int_arg, load_or_404, login_required, now, requires, user
from ledger import closing, closures
from ledger.closing import ClosingError
from ledger.models import Beneficiary, Worker
from ledger.timeutil import Month, paris_date

PAGE = 200


def _config() -> Any:
    return current_app.extensions["telegestion"]


def _month(raw: str) -> Month:
    """The month of the URL; a malformed or future month is not found (never a 500)."""
    try:
        month = Month.parse(raw)
    except ValueError:
        abort(404)
    if month > Month.of(paris_date(now())):
        abort(404)
    return month


@login_required
def index() -> ResponseReturnValue:
    """The month to finish now: the previous one."""
    current = Month.of(paris_date(now()))
    return redirect(url_for("closing.month", mois=str(current.previous())))


def _antenna_filter() -> int | None:
    antenna_id = int_arg("antenne")
    if antenna_id is None or not can_access(user(), antenna_id):
        return None
    return antenna_id


def _render_month(
    month: Month, *, error: str | None = None, form: ReopenForm | None = None
) -> ResponseReturnValue:
    session = db()
    config = _config()
    moment = now()
    life = closures.life_of(session, month)
    phase = closing.phase(life, moment, config.cutoff)
    antenna_id = _antenna_filter()
    referent_view = user().sees_all_antennas and antenna_id is None
    pro = queries.proforma(session, user(), month, config.money_rules, antenna_id)
    context = {
        "month": month,
        "life": life,
        "phase": phase,
        "phases": closing.MonthPhase,
        "cutoff_label": config.cutoff.label(month),
        "days_left": closing.days_to_cutoff(month, moment, config.cutoff),
        "proforma": pro,
        "pending": [f for f in pro.funders if f.state is not closing.Validation.VALID],
        "progress": queries.progress(session, user(), month, moment) if referent_view else [],
        "items": []
        if referent_view
        else queries.to_correct(session, user(), month, moment, antenna_id),
        "held": queries.held_calls(session, user(), month, antenna_id),
        "antennas": antennas(),
        "antenna_id": antenna_id,
        "confirm": ConfirmForm(),
        "reopen_form": form or ReopenForm(),
        "error": error,
        "previous": month.previous(),
        "next": month.next() if month < Month.of(paris_date(moment)) else None,
        "updated_at": moment,
    }
    status = 422 if error or (form is not None and form.errors) else 200
    return render_template("closing/month.html", **context), status


@login_required
def month(mois: str) -> ResponseReturnValue:
    return _render_month(_month(mois))


@login_required
def funder(mois: str, financeur: str) -> ResponseReturnValue:
    month_ = _month(mois)
    antenna_id = _antenna_filter()
    pro = queries.proforma(db(), user(), month_, _config().money_rules, antenna_id)
    row = next((f for f in pro.funders if f.key == financeur), None)
    if row is None:
        abort(404)
    by_worker = request.args.get("vue") == "intervenants"
    groups = queries.funder_groups(db(), pro.billing, financeur, by_worker)
    page = max(int_arg("page") or 1, 1)
    return render_template(
        "closing/funder.html",
        month=month_,
        row=row,
        by_worker=by_worker,
        groups=groups[(page - 1) * PAGE : page * PAGE],
        total=len(groups),
        page=page,
        has_next=len(groups) > page * PAGE,
        antenna_id=antenna_id,
        categories=queries.CATEGORY_LABELS,
    )


@login_required
def visits(mois: str, financeur: str) -> ResponseReturnValue:
    """The visits behind one beneficiary's or one worker's lines, down to their raw calls."""
    month_ = _month(mois)
    beneficiary_id, worker_id = int_arg("beneficiaire"), int_arg("intervenant")
    subject: Beneficiary | Worker
    if beneficiary_id is not None:
        subject = load_or_404(Beneficiary, beneficiary_id)
    elif worker_id is not None:
        subject = load_or_404(Worker, worker_id)
    else:
        abort(404)
    antenna_id = _antenna_filter()
    pro = queries.proforma(db(), user(), month_, _config().money_rules, antenna_id)
    row = next((f for f in pro.funders if f.key == financeur), None)
    if row is None:
        abort(404)
    shares = queries.shares_of(
        pro.billing, financeur, beneficiary_id=beneficiary_id, worker_id=worker_id
    )
    people = queries.names(
        db(),
        Worker if beneficiary_id is not None else Beneficiary,
        [
            vb.visit.worker_id if beneficiary_id is not None else vb.visit.beneficiary_id
            for vb, _share in shares
        ],
    )
    return render_template(
        "closing/visits.html",
        month=month_,
        row=row,
        subject=subject,
        by_worker=worker_id is not None,
        shares=shares,
        people=people,
        total=sum(share.minutes for _vb, share in shares),
        categories=queries.CATEGORY_LABELS,
    )


def _act(month: Month, act: Callable[[], str]) -> ResponseReturnValue:
    """Run a transition in the request's transaction; a refusal shows the month page."""
    session = db()
    try:
        message = act()
    except ClosingError as refused:
        session.rollback()
        return _render_month(month, error=str(refused))
    session.commit()
    flash(message, "success")
    return redirect(url_for("closing.month", mois=str(month)))


@requires("can_close_months")
def validate(mois: str, financeur: str) -> ResponseReturnValue:
    month_ = _month(mois)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    config = _config()

    def act() -> str:
        closures.validate_funder(
            db(),
            month_,
            financeur,
            actor=user().login,
            now=now(),
            rules=config.money_rules,
            cutoff=config.cutoff,
        )
        return "Pro forma validé."

    return _act(month_, act)


@requires("can_close_months")
def close(mois: str) -> ResponseReturnValue:
    month_ = _month(mois)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    config = _config()

    def act() -> str:
        closed = closures.close_month(
            db(),
            month_,
            actor=user().login,
            now=now(),
            rules=config.money_rules,
            cutoff=config.cutoff,
        )
        return f"Mois de {month_.label} clôturé (révision {closed.revision})."

    return _act(month_, act)


@requires("can_close_months")
def reopen(mois: str) -> ResponseReturnValue:
    month_ = _month(mois)
    form = ReopenForm()
    if not form.validate_on_submit():
        return _render_month(month_, form=form)
    session = db()
    try:
        closures.reopen_month(
            session, month_, actor=user().login, now=now(), motive=form.motive.data or ""
        )
    except ClosingError as refused:
        session.rollback()
        return _render_month(month_, error=str(refused), form=form)
    session.commit()
    flash(f"Mois de {month_.label} rouvert.", "success")
    return redirect(url_for("closing.month", mois=str(month_)))
