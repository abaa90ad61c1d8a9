"""Statistics: the menu, one page per state, and each state as CSV, XLSX and PDF.

Load (filters from the query string, the worker or beneficiary in scope),
check (antenna managers see their antenna, central roles all), act (compute
the report once, render it as a page or a file). A malformed filter answers
400 with what was wrong; a worker or beneficiary outside the user's scope 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime

from flask import Response, abort, current_app, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from extranet.scope import Viewer, antenna_ids, get_in_scope
from extranet.stats import exports, queries, states
from extranet.stats.cache import TtlCache
from extranet.stats.charts import svg
from extranet.stats.filters import FilterError, Filters, PeriodKind, parse_filters, scope_antennas
from extranet.stats.loaders import Context
from extranet.stats.report import Report
from extranet.stats.states import STATES, State
from extranet.web import db, int_arg, now, requires, user
from kernel.settings import CoreSettings, load_section
from ledger.models import Antenna, Beneficiary, Funder, Worker
from ledger.money import format_hours
from ledger.service import audit
from ledger.timeutil import paris_date

#: Beneficiaries or workers offered in a choice list at most (beyond: pick an antenna first).
CHOICES_MAX = 600
#: Rows of a long detail table a page lists (states 3 and 0); the files have them all. 500:
#: a page a person can scroll (2,000 rows made 770 kB of HTML and 1 s of rendering).
PAGE_ROWS = 500

FORMATS = {
    # Werkzeug adds "; charset=utf-8" to a text type itself (given here, it came twice).
    "csv": ("text/csv", None),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        exports.write_xlsx,
    ),
    "pdf": ("application/pdf", exports.write_pdf),
}


def cache() -> TtlCache:
    seconds = current_app.extensions["telegestion"].settings.stats_cache_seconds
    return current_app.extensions.setdefault("extranet_stats_cache", TtlCache(seconds))  # type: ignore[no-any-return]


#: Months the overview shows unless asked otherwise.
OVERVIEW_MONTHS = 6


def overview(session: Session, viewer: Viewer, months: int, moment: datetime) -> dict[str, object]:
    """The overview's tables for ``months`` months to ``moment``'s day, in the viewer's
    scope, from the cache when computed within its time."""
    today = paris_date(moment)
    index = today.year * 12 + today.month - 1 - (months - 1)
    first = date(index // 12, index % 12 + 1, 1)

    def compute() -> dict[str, object]:
        by_antenna, by_funder = queries.hours_tables(session, viewer, first, today)
        return {
            "by_antenna": by_antenna,
            "by_funder": by_funder,
            "rates": queries.incomplete_rates(session, viewer, first, today),
            "computed_at": moment,
        }

    figures, _cached = cache().get_or_compute((antenna_ids(viewer), first, today), compute)
    return figures  # type: ignore[no-any-return]


@requires("can_see_statistics")
def index() -> str:
    months = min(max(int_arg("mois") or OVERVIEW_MONTHS, 1), 24)
    figures = overview(db(), user(), months, now())
    states = sorted((s for s in STATES.values() if s.number), key=lambda s: s.number)
    return render_template("stats/index.html", months=months, states=states, **figures)


def _refused(message: str) -> tuple[str, int]:
    return render_template("error.html", code=400, message=f"Filtre refusé : {message}."), 400


def _load(state: State) -> tuple[Filters, Context]:
    """The filters of the request and where to read; aborts 404 outside the user's scope."""
    moment = now()
    args = {k: v for k, v in request.args.items()}
    filters = parse_filters(
        args,
        paris_date(moment),
        periods=state.periods,
        default=state.default,
        options=state.option_values,
    )
    session = db()
    if (
        filters.worker_id is not None
        and get_in_scope(session, Worker, filters.worker_id, user()) is None
    ):
        abort(404)
    if (
        filters.beneficiary_id is not None
        and get_in_scope(session, Beneficiary, filters.beneficiary_id, user()) is None
    ):
        abort(404)
    if (
        filters.funder_code
        and session.scalar(select(Funder.id).where(Funder.code == filters.funder_code)) is None
    ):
        raise FilterError(f"financeur inconnu : {filters.funder_code!r}")
    areas = scope_antennas(antenna_ids(user()), filters.antenna_id)
    return filters, Context(session, areas, filters, paris_date(moment), moment)


def _report(state: State, filters: Filters, ctx: Context) -> Report:
    key = (state.slug, ctx.antennas, ctx.listed, tuple(sorted(filters.args().items())))

    def compute() -> Report:
        report = state.build(ctx)
        report.computed_at = ctx.now
        return report

    report, _cached = cache().get_or_compute(key, compute)
    return report  # type: ignore[no-any-return]


def _choices(state: State, filters: Filters, ctx: Context) -> dict[str, object]:
    session = db()
    antennas = (
        list(session.scalars(select(Antenna).order_by(Antenna.name)))
        if user().sees_all_antennas
        else [a for a in [user().antenna] if a is not None]
    )
    found: dict[str, object] = {"antennas": antennas}
    if "financeur" in state.uses:
        found["funders"] = session.execute(
            select(Funder.code, Funder.name).order_by(Funder.name)
        ).all()
    for name, model in (("intervenant", Worker), ("beneficiaire", Beneficiary)):
        if name not in state.uses:
            continue
        query = select(model.id, model.last_name, model.first_name).order_by(
            model.last_name, model.first_name, model.id
        )
        if ctx.antennas is not None:
            query = query.where(model.antenna_id.in_(sorted(ctx.antennas)))
        rows = session.execute(query.limit(CHOICES_MAX + 1)).all()
        found[name] = rows if len(rows) <= CHOICES_MAX else None
    return found


def _heading(state: State, filters: Filters, ctx: Context) -> exports.Heading:
    session = db()
    shown: list[tuple[str, str]] = []
    if filters.antenna_id is not None and ctx.antennas == frozenset():
        # Another antenna than a manager's own: not even its name.
        shown.append(("Antenne", "hors de votre périmètre (aucune donnée)"))
    elif filters.antenna_id is not None:
        name = session.scalar(select(Antenna.name).where(Antenna.id == filters.antenna_id))
        shown.append(("Antenne", name or str(filters.antenna_id)))
    elif not user().sees_all_antennas and user().antenna is not None:
        shown.append(("Antenne", user().antenna.name))  # type: ignore[union-attr]
    else:
        shown.append(("Antenne", "toutes"))
    if filters.funder_code:
        shown.append(("Financeur", filters.funder_code))
    if filters.worker_id is not None:
        worker = session.get(Worker, filters.worker_id)
        shown.append(("Intervenant", f"{worker.last_name} {worker.first_name}" if worker else "?"))
    if filters.beneficiary_id is not None:
        ben = session.get(Beneficiary, filters.beneficiary_id)
        shown.append(("Bénéficiaire", f"{ben.last_name} {ben.first_name}" if ben else "?"))
    for option, chosen in filters.options.items():
        labels = dict(state.options.get(option, ()))
        shown.append((option.capitalize(), labels.get(chosen, chosen)))
    organisation = current_app.extensions.setdefault(
        "extranet_organisation_name", load_section(CoreSettings, "core").organisation_name
    )
    return exports.Heading(
        str(organisation),
        f"{state.number or ''} {state.title}".strip(),
        filters.period.label,
        shown,
        ctx.now,
    )


@requires("can_see_statistics")
def state(slug: str) -> ResponseReturnValue:
    found = STATES.get(slug)
    if found is None:
        abort(404)
    try:
        filters, ctx = _load(found)
    except FilterError as error:
        return _refused(str(error))
    # A page lists the first rows of a long detail; the files have them all.
    report = _report(found, filters, replace(ctx, listed=PAGE_ROWS))
    export_args = filters.args()
    return render_template(
        "stats/state.html",
        state=found,
        report=report,
        filters=filters,
        choices=_choices(found, filters, ctx),
        charts=[(chart, svg(chart), chart.table()) for chart in report.charts],
        export_args=export_args,
        period_kinds=[k for k in PeriodKind if k in found.periods],
        format_hours=format_hours,
        computed_at=report.computed_at or ctx.now,
        cache_minutes=max(
            1, current_app.extensions["telegestion"].settings.stats_cache_seconds // 60
        ),
    )


@requires("can_see_statistics")
def export(slug: str, fmt: str) -> ResponseReturnValue:
    found = STATES.get(slug)
    if found is None or fmt not in FORMATS:
        abort(404)
    try:
        filters, ctx = _load(found)
    except FilterError as error:
        return _refused(str(error))
    if fmt == "pdf" and found.pdf_listed:
        # Only the rows the PDF lists (read when called: tests lower the limit).
        ctx = replace(ctx, listed=states.PDF_VISITS)
    report = _report(found, filters, ctx)
    heading = _heading(found, filters, ctx)
    audit(
        db(),
        user().login,
        "stats.exported",
        "statistics",
        found.slug,
        antenna_id=filters.antenna_id if filters.antenna_id is not None else user().antenna_id,
        format=fmt,
        filters=filters.args(),
    )
    db().commit()
    mimetype, writer = FORMATS[fmt]
    chunks: Iterator[bytes] = (
        exports.csv_chunks(report, heading)
        if writer is None
        else exports.file_chunks(writer, report, heading)
    )
    name = f"{found.slug}-{filters.period.slug}.{fmt}"
    return Response(
        stream_with_context(chunks),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
        direct_passthrough=True,
    )
