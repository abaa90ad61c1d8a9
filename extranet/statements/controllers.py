"""Signed monthly statements (built by ``archive``), by beneficiary and month."""

from __future__ import annotations

from flask import Response, abort, current_app, render_template
from sqlalchemy import select

from archive.models import ArchivedStatement
from archive.service import StatementUnavailable, download_name, open_statement, statements_for
from extranet.params import month_arg
from extranet.scope import antenna_ids, scope
from extranet.visits.controllers import antennas
from extranet.web import db, int_arg, load_or_404, login_required, user
from ledger.models import Beneficiary
from ledger.service import audit

LIMIT = 500


@login_required
def index() -> str:
    month = month_arg("mois")
    beneficiary_id = int_arg("beneficiaire")
    antenna_id = int_arg("antenne")
    scope_ids = antenna_ids(user())
    if antenna_id is not None:
        scope_ids = (
            frozenset({antenna_id}) if scope_ids is None else scope_ids & frozenset({antenna_id})
        )
    rows = statements_for(
        db(),
        None if beneficiary_id is None else [beneficiary_id],
        antenna_ids=scope_ids,
        month=month,
    )[:LIMIT]
    names = {
        b.id: b
        for b in db().scalars(
            scope(
                select(Beneficiary).where(Beneficiary.id.in_({r.beneficiary_id for r in rows})),
                user(),
                Beneficiary,
            )
        )
    }
    return render_template(
        "statements/index.html",
        rows=rows,
        names=names,
        month=f"{month[0]:04d}-{month[1]:02d}" if month else "",
        beneficiary_id=beneficiary_id,
        antennas=antennas(),
        antenna_id=antenna_id,
    )


@login_required
def download(statement_id: int) -> Response:
    statement = load_or_404(ArchivedStatement, statement_id)
    try:
        data = open_statement(current_app.extensions["telegestion"].data_dir, statement)
    except StatementUnavailable as unavailable:
        abort(Response(str(unavailable), status=410, mimetype="text/plain"))
    audit(
        db(),
        user().login,
        "statement.downloaded",
        "archive_statement",
        statement.id,
        antenna_id=statement.antenna_id,
    )
    db().commit()
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{download_name(statement)}"'},
    )
