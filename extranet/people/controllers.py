"""Beneficiary and worker pages, and the lists that lead to them."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from extranet.alerts.queries import open_alerts_for_beneficiary
from extranet.params import text_arg
from extranet.people.forms import LanguageForm
from extranet.scope import antenna_ids, scope
from extranet.visits.controllers import antennas
from extranet.visits.queries import display_status, moved_away, visits_between
from extranet.web import db, int_arg, load_or_404, login_required, now, requires, user
from kernel.settings import money
from ledger.facts import month_billing, plan_minutes
from ledger.languages import LANGUAGES
from ledger.models import Absence, Beneficiary, CarePlan, Phone, Visit, VisitStatus, Worker
from ledger.service import audit
from ledger.timeutil import Month, paris_date

PAGE = 100
COUNTED = (VisitStatus.COMPLETE, VisitStatus.CORRECTED, VisitStatus.MANUAL)


def done_minutes(beneficiary_id: int | None = None, worker_id: int | None = None) -> int:
    """This month's kept minutes (``ledger.money``), as pre-billing and statements count them."""
    month = Month.of(paris_date(now()))
    antennas = antenna_ids(user())
    if worker_id is not None and beneficiary_id is None:
        # Only the antennas of the worker's visits this month: the ledger then
        # reads their beneficiaries' plans, not every plan in the user's scope
        # (the same visits, the same kept minutes, a fraction of the rows).
        worked = set(
            db().scalars(
                select(Visit.antenna_id)
                .where(
                    Visit.worker_id == worker_id,
                    Visit.service_date >= month.first_day,
                    Visit.service_date <= month.last_day,
                )
                .distinct()
            )
        )
        antennas = frozenset(worked if antennas is None else worked & antennas)
        if not antennas:
            return 0
    _facts, billing = month_billing(
        db(),
        month,
        money().rules,
        antennas,
        beneficiary_id=beneficiary_id,
        worker_id=worker_id,
    )
    return sum(vb.kept.minutes for vb in billing.visits)


def _search(model: type[Beneficiary] | type[Worker]) -> str:
    query = (
        select(model)
        .options(joinedload(model.antenna))
        .order_by(model.last_name, model.first_name, model.id)
    )
    text = text_arg("q")
    if text:
        pattern = f"%{text}%"
        query = query.where(
            or_(
                model.last_name.ilike(pattern),
                model.first_name.ilike(pattern),
                model.external_id.ilike(pattern),
            )
        )
    antenna_id = int_arg("antenne")
    if antenna_id is not None:
        query = query.where(model.antenna_id == antenna_id)
    page = max(int_arg("page") or 1, 1)
    rows = db().scalars(scope(query, user(), model).offset((page - 1) * PAGE).limit(PAGE + 1)).all()
    template = "people/beneficiaries.html" if model is Beneficiary else "people/workers.html"
    return render_template(
        template,
        rows=rows[:PAGE],
        has_next=len(rows) > PAGE,
        page=page,
        q=text,
        antenna_id=antenna_id,
        antennas=antennas(),
    )


@login_required
def beneficiaries() -> str:
    return _search(Beneficiary)


@login_required
def workers() -> str:
    return _search(Worker)


@login_required
def beneficiary(beneficiary_id: int) -> str:
    found = load_or_404(Beneficiary, beneficiary_id)
    session = db()
    today = paris_date(now())
    first, nxt = Month.of(today).first_day, Month.of(today).next().first_day
    phones = session.scalars(
        scope(
            select(Phone).where(Phone.beneficiary_id == found.id).order_by(Phone.active_from),
            user(),
            Phone,
        )
    ).all()
    plans = session.scalars(
        scope(
            select(CarePlan)
            .options(joinedload(CarePlan.funder))
            .where(CarePlan.beneficiary_id == found.id)
            .order_by(CarePlan.starts_on.desc()),
            user(),
            CarePlan,
        )
    ).all()
    absences = session.scalars(
        scope(
            select(Absence)
            .where(Absence.beneficiary_id == found.id)
            .order_by(Absence.starts_on.desc()),
            user(),
            Absence,
        )
    ).all()
    month_visits = list(
        visits_between(session, user(), first, nxt - timedelta(days=1), beneficiary_id=found.id)
    )
    earlier = visits_between(
        session,
        user(),
        Month.of(today).previous().first_day,
        first - timedelta(days=1),
        beneficiary_id=found.id,
        limit=200,
    )
    active_plans = [
        p for p in plans if p.starts_on < nxt and (p.ends_on is None or p.ends_on >= first)
    ]
    planned_hours = sum(plan_minutes(float(p.max_hours)) for p in active_plans)
    moved = list(moved_away(session, user(), beneficiary_id=found.id))
    return render_template(
        "people/beneficiary.html",
        b=found,
        phones=phones,
        plans=plans,
        absences=absences,
        active_plan_ids={p.id for p in active_plans},
        month_visits=month_visits,
        earlier=earlier,
        done=done_minutes(beneficiary_id=found.id),
        planned=planned_hours,
        today=today,
        moved=moved,
        statuses={v.id: display_status(v, now()) for v in [*month_visits, *earlier, *moved]},
        alerts=open_alerts_for_beneficiary(session, user(), found, today),
    )


@login_required
def worker(worker_id: int) -> ResponseReturnValue:
    return _render_worker(load_or_404(Worker, worker_id))


@requires("can_write")
def worker_language(worker_id: int) -> ResponseReturnValue:
    """The language the IVR speaks to this worker once the code is recognised."""
    found = load_or_404(Worker, worker_id)
    form = LanguageForm()
    if not form.validate_on_submit():
        return _render_worker(found, form), 422
    if form.language.data != found.language:
        session = db()
        audit(
            session,
            user().login,
            "worker.language",
            "worker",
            found.id,
            antenna_id=found.antenna_id,
            before=found.language,
            after=form.language.data,
        )
        found.language = form.language.data
        session.commit()
    flash("Langue du serveur vocal enregistrée.", "success")
    return redirect(url_for("people.worker", worker_id=found.id))


def _render_worker(found: Worker, form: LanguageForm | None = None) -> str:
    today = paris_date(now())
    first = Month.of(today).first_day
    visits = list(
        visits_between(db(), user(), first - timedelta(days=7), today, worker_id=found.id)
    )
    moved = list(moved_away(db(), user(), worker_id=found.id))
    return render_template(
        "people/worker.html",
        w=found,
        language_form=form or LanguageForm(data={"language": found.language}),
        languages=LANGUAGES,
        visits=visits,
        moved=moved,
        done=done_minutes(worker_id=found.id),
        today=today,
        statuses={v.id: display_status(v, now()) for v in [*visits, *moved]},
    )
