from __future__ import annotations

from flask import render_template, request

from extranet.planning.queries import due_soon, late_or_missed
from extranet.visits.controllers import antennas
from extranet.web import db, int_arg, login_required, now, user


@login_required
def index() -> str:
    moment = now()
    antenna_id = int_arg("antenne")
    context = {
        "due": due_soon(db(), user(), moment, antenna_id),
        "late": late_or_missed(db(), user(), moment, antenna_id),
        "updated_at": moment,
        "antenna_id": antenna_id,
    }
    if request.args.get("fragment"):
        return render_template("planning/_tables.html", **context)
    return render_template("planning/index.html", antennas=antennas(), **context)
