from __future__ import annotations

from datetime import date

from flask import abort, current_app, render_template, request

from extranet.scope import antenna_ids
from extranet.stats import queries
from extranet.stats.cache import TtlCache
from extranet.web import db, int_arg, login_required, now, requires, user
from ledger.money import format_hours
from ledger.timeutil import Month, paris_date

#: Seconds a computed statistics page is reused.
CACHE_SECONDS = 300


def cache() -> TtlCache:
    return current_app.extensions.setdefault("extranet_stats_cache", TtlCache(CACHE_SECONDS))  # type: ignore[no-any-return]


@requires("can_see_statistics")
def index() -> str:
    moment = now()
    today = paris_date(moment)
    months = min(max(int_arg("mois") or 6, 1), 24)
    index = today.year * 12 + today.month - 1 - (months - 1)
    first = date(index // 12, index % 12 + 1, 1)
    session = db()
    scope_key = antenna_ids(user())

    def compute() -> dict[str, object]:
        return {
            "by_antenna": queries.hours_by_antenna(session, user(), first, today),
            "by_funder": queries.hours_by_funder(session, user(), first, today),
            "rates": queries.incomplete_rates(session, user(), first, today),
            "computed_at": moment,
        }

    figures, _cached = cache().get_or_compute((scope_key, first, today), compute)
    return render_template("stats/index.html", months=months, **figures)


def _month_arg(today: date) -> Month:
    raw = request.args.get("mois", "")
    if not raw:
        return Month.of(today).previous()
    try:
        return Month.parse(raw)
    except ValueError:
        abort(400)


@login_required
def beneficiaries() -> str:
    """State 1: the month's hours per beneficiary and funder, in the user's antennas."""
    period = _month_arg(paris_date(now()))
    lines = queries.hours_by_beneficiary_and_funder(db(), user(), period)
    return render_template(
        "stats/beneficiaries.html",
        period=period,
        lines=lines,
        total=sum(line.minutes for line in lines),
        format_hours=format_hours,
    )
