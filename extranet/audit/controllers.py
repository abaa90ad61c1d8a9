"""The audit journal: who did what and when, filterable."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from sqlalchemy import select

from extranet.params import date_arg, text_arg
from extranet.scope import scope
from extranet.visits.controllers import antennas
from extranet.web import db, int_arg, login_required, now, user
from ledger.models import AuditEntry
from ledger.timeutil import paris_date, paris_day_bounds

PAGE = 100


@login_required
def index() -> str:
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    actor = text_arg("auteur")
    action = text_arg("action")
    object_type = text_arg("objet")
    object_id = text_arg("numero")
    first, last = date_arg("du"), date_arg("au")
    antenna_id = int_arg("antenne")
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if first:
        query = query.where(AuditEntry.at >= paris_day_bounds(first)[0])
    if last:
        query = query.where(AuditEntry.at < paris_day_bounds(last)[1])
    if antenna_id is not None:
        query = query.where(AuditEntry.antenna_id == antenna_id)
    before = int_arg("avant")
    if before is not None:
        query = query.where(AuditEntry.id < before)
    entries = db().scalars(scope(query.limit(PAGE + 1), user(), AuditEntry)).all()
    recent = paris_day_bounds(paris_date(now()) - timedelta(days=90))[0]
    actions = (
        db()
        .scalars(
            scope(
                select(AuditEntry.action).distinct().where(AuditEntry.at >= recent),
                user(),
                AuditEntry,
            )
        )
        .all()
    )
    return render_template(
        "audit/index.html",
        entries=entries[:PAGE],
        next_before=entries[PAGE - 1].id if len(entries) > PAGE else None,
        actions=sorted(actions),
        filters={
            "auteur": actor,
            "action": action,
            "objet": object_type,
            "numero": object_id,
            "du": first.isoformat() if first else "",
            "au": last.isoformat() if last else "",
        },
        antennas=antennas(),
        antenna_id=antenna_id,
    )
