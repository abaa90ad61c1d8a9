from __future__ import annotations

from datetime import timedelta

from flask import render_template

from extranet.stats import queries
from extranet.web import db, int_arg, now, requires, user
from ledger.timeutil import paris_date


@requires("can_see_statistics")
def index() -> str:
    today = paris_date(now())
    months = min(max(int_arg("mois") or 6, 1), 24)
    first = (today.replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    session = db()
    return render_template(
        "stats/index.html",
        by_antenna=queries.hours_by_antenna(session, user(), first, today),
        by_funder=queries.hours_by_funder(session, user(), first, today),
        rates=queries.incomplete_rates(session, user(), first, today),
        months=months,
    )
