"""Administration: the user accounts (created and changed with ``telegestion users``), and
the Département funders' identity for the teletransmission."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from extranet.admin.forms import FunderIdentityForm
from extranet.models import User
from extranet.web import db, requires, user
from ledger.funders import (
    DEFAULT_AID_TYPES,
    FunderIdentityError,
    format_service_codes,
    identity_of,
    set_identity,
)
from ledger.models import DEPARTEMENT_FUNDERS, Funder


@requires("can_manage_users")
def users() -> str:
    rows = (
        db()
        .scalars(select(User).options(joinedload(User.antenna)).order_by(User.role, User.login))
        .all()
    )
    return render_template("admin/users.html", users=rows)


@requires("can_manage_funders")
def funders() -> str:
    rows = db().scalars(
        select(Funder).where(Funder.kind.in_(sorted(DEPARTEMENT_FUNDERS))).order_by(Funder.code)
    )
    identities = [identity_of(row) for row in rows]
    return render_template(
        "admin/funders.html",
        identities=identities,
        ids={f.code: f.id for f in db().scalars(select(Funder))},
        format_service_codes=format_service_codes,
    )


@requires("can_manage_funders")
def funder(funder_id: int) -> ResponseReturnValue:
    session = db()
    row = session.get(Funder, funder_id)
    if row is None or not row.kind.is_departement:
        abort(404)
    form = FunderIdentityForm()
    error = None
    if form.validate_on_submit():
        try:
            changed = set_identity(
                session,
                row,
                author=user().login,
                platform_id=form.platform_id.data or "",
                departement_code=form.departement_code.data or "",
                aid_type=form.aid_type.data or "",
                service_codes=form.service_codes.data or "",
            )
        except FunderIdentityError as refused:
            session.rollback()
            row = session.get_one(Funder, funder_id)
            error = str(refused)
        else:
            session.commit()
            flash(
                f"Identité de {row.code} enregistrée." if changed else "Aucune modification.",
                "success",
            )
            return redirect(url_for("admin.funders"))
    elif not form.is_submitted():
        identity = identity_of(row)
        form.platform_id.data = identity.platform_id
        form.departement_code.data = identity.departement_code
        form.aid_type.data = identity.aid_type
        form.service_codes.data = format_service_codes(identity.service_codes)
    status = 422 if error or form.errors else 200
    page = render_template(
        "admin/funder.html",
        funder=row,
        identity=identity_of(row),
        default_aid=DEFAULT_AID_TYPES.get(row.kind, ""),
        form=form,
        error=error,
    )
    return page, status
