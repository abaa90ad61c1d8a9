"""The Département's final invoices (fetched by ``billing_export.invoices``), by arrondissement.

An antenna manager sees the invoices of the arrondissements of the antenna
(``Antenna.areas``); central roles see all of them, including those whose
name gives no arrondissement. The rule is ``extranet.scope``'s, like every other.
"""

from __future__ import annotations

from flask import Response, abort, current_app, render_template, request
from sqlalchemy import select

from billing_export.invoices import InvoiceUnavailable, download_name, open_invoice
from billing_export.models import ReceivedInvoice
from extranet.scope import scope
from extranet.visits.controllers import antennas
from extranet.web import db, int_arg, load_or_404, login_required, user
from ledger.models import Antenna
from ledger.service import audit
from ledger.timeutil import Month

LIMIT = 500


@login_required
def index() -> str:
    query = scope(select(ReceivedInvoice), user(), ReceivedInvoice)
    month = None
    raw = request.args.get("mois", "")
    try:
        month = Month.parse(raw) if raw else None
    except ValueError:
        month = None
    if month is not None:
        query = query.where(ReceivedInvoice.month == month.first_day)
    antenna_id = int_arg("antenne")
    shown = antennas()
    chosen = next((a for a in shown if a.id == antenna_id), None)
    if chosen is not None:
        query = query.where(ReceivedInvoice.area.in_(areas_of(chosen)))
    rows = (
        db()
        .scalars(
            query.order_by(
                ReceivedInvoice.month.desc(), ReceivedInvoice.area, ReceivedInvoice.aid_type
            ).limit(LIMIT)
        )
        .all()
    )
    by_area = {area: a for a in db().scalars(select(Antenna)) for area in areas_of(a)}
    return render_template(
        "invoices/index.html",
        rows=rows,
        by_area=by_area,
        month=str(month) if month else "",
        antennas=shown,
        antenna_id=chosen.id if chosen else None,
    )


def areas_of(antenna: Antenna) -> list[str]:
    return [a.strip() for a in (antenna.areas or "").split(",") if a.strip()]


@login_required
def download(invoice_id: int) -> Response:
    invoice = load_or_404(ReceivedInvoice, invoice_id)
    try:
        data = open_invoice(current_app.extensions["telegestion"].data_dir, invoice)
    except InvoiceUnavailable as unavailable:
        abort(Response(str(unavailable), status=410, mimetype="text/plain"))
    audit(db(), user().login, "invoice.downloaded", "invoice", invoice.id, area=invoice.area)
    db().commit()
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{download_name(invoice)}"'},
    )
