"""Administration of the accounts: list, create, change role and antenna,
deactivate, reactivate, reset a password, lift a login lockout. Every act goes
through ``extranet.admin.services`` (rules, sessions ended, audit); the
Département funders' identity for the teletransmission; the REST API's tokens
(``extranet.api.tokens``)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from extranet.admin import services
from extranet.admin.forms import (
    AccountForm,
    ActForm,
    ApiTokenForm,
    FunderIdentityForm,
    UnlockForm,
)
from extranet.api import tokens
from extranet.auth.throttle import Throttle
from extranet.models import ApiToken, Role, ThrottleScope, User
from extranet.web import db, now, requires, user
from ledger.funders import (
    DEFAULT_AID_TYPES,
    FunderIdentityError,
    format_service_codes,
    identity_of,
    set_identity,
)
from ledger.models import DEPARTEMENT_FUNDERS, Antenna, Funder


def _throttle() -> Throttle:
    return current_app.extensions["telegestion"].throttle  # type: ignore[no-any-return]


def _antenna_choices() -> list[tuple[int, str]]:
    antennas = db().scalars(select(Antenna).order_by(Antenna.name)).all()
    return [(0, "— Aucune (rôles centraux) —")] + [(a.id, a.name) for a in antennas]


def _account(user_id: int) -> User:
    found = db().get(User, user_id)
    if found is None:
        abort(404)
    return found


@requires("can_manage_users")
def users() -> str:
    rows = (
        db()
        .scalars(select(User).options(joinedload(User.antenna)).order_by(User.role, User.login))
        .all()
    )
    locks = _throttle().locks(db(), now())
    locked_logins = {lock.key: lock for lock in locks if lock.scope is ThrottleScope.LOGIN}
    return render_template(
        "admin/users.html",
        users=rows,
        locks=locks,
        locked_logins=locked_logins,
        unlock_form=UnlockForm(),
    )


@requires("can_manage_users")
def create() -> ResponseReturnValue:
    form = AccountForm()
    form.antenna.choices = _antenna_choices()
    error = None
    if form.validate_on_submit():
        session = db()
        try:
            issued = services.create(
                session,
                user(),
                login=form.login.data or "",
                name=form.name.data or "",
                role=Role(form.role.data),
                antenna_id=form.antenna.data or None,
            )
        except services.AccountError as refused:
            session.rollback()
            error = str(refused)
        else:
            session.commit()
            # Shown in this answer only: never in a redirect, a cookie or a log.
            return render_template("admin/issued.html", issued=issued, created=True)
    status = 422 if (error or form.errors) else 200
    return render_template("admin/account.html", form=form, error=error, account=None), status


@requires("can_manage_users")
def edit(user_id: int) -> ResponseReturnValue:
    account = _account(user_id)
    form = AccountForm(
        obj=_Defaults(account.login, account.name, account.role.value, account.antenna_id or 0)
    )
    form.antenna.choices = _antenna_choices()
    form.login.data = account.login  # not editable: it is the audit's name for the person
    error = None
    if form.validate_on_submit():
        session = db()
        try:
            ended = services.update(
                session,
                user(),
                account,
                name=form.name.data or "",
                role=Role(form.role.data),
                antenna_id=form.antenna.data or None,
            )
        except services.AccountError as refused:
            session.rollback()
            error = str(refused)
        else:
            session.commit()
            flash(
                "Compte modifié" + (" ; ses sessions ouvertes sont fermées." if ended else "."),
                "success",
            )
            return redirect(url_for("admin.edit", user_id=account.id))
    status = 422 if (error or form.errors) else 200
    return render_template(
        "admin/account.html", form=form, error=error, account=account, act_form=ActForm()
    ), status


class _Defaults:
    """The form's values before any change (WTForms reads them as attributes)."""

    def __init__(self, login: str, name: str, role: str, antenna: int) -> None:
        self.login, self.name, self.role, self.antenna = login, name, role, antenna


def _act(user_id: int, act: str) -> ResponseReturnValue:
    account = _account(user_id)
    if not ActForm().validate_on_submit():
        abort(400)
    session = db()
    try:
        if act == "deactivate":
            services.deactivate(session, user(), account)
            message = "Compte désactivé ; ses sessions ouvertes sont fermées."
        else:
            services.reactivate(session, user(), account)
            message = "Compte réactivé."
    except services.AccountError as refused:
        session.rollback()
        flash(str(refused), "error")
    else:
        session.commit()
        flash(message, "success")
    return redirect(url_for("admin.edit", user_id=user_id))


@requires("can_manage_users")
def deactivate(user_id: int) -> ResponseReturnValue:
    return _act(user_id, "deactivate")


@requires("can_manage_users")
def reactivate(user_id: int) -> ResponseReturnValue:
    return _act(user_id, "reactivate")


@requires("can_manage_users")
def reset_password(user_id: int) -> ResponseReturnValue:
    account = _account(user_id)
    if not ActForm().validate_on_submit():
        abort(400)
    session = db()
    try:
        issued = services.reset_password(session, user(), account, _throttle())
    except services.AccountError as refused:
        session.rollback()
        flash(str(refused), "error")
        return redirect(url_for("admin.edit", user_id=user_id))
    session.commit()
    return render_template("admin/issued.html", issued=issued, created=False)


@requires("can_manage_users")
def unlock() -> ResponseReturnValue:
    form = UnlockForm()
    scope = form.scope_value()
    if not form.validate_on_submit() or scope is None:
        abort(400)
    session = db()
    try:
        services.lift_lock(session, user(), _throttle(), scope, form.key.data or "")
    except services.AccountError as refused:
        session.rollback()
        flash(str(refused), "error")
    else:
        session.commit()
        flash(f"Connexions de nouveau permises pour {form.key.data}.", "success")
    return redirect(url_for("admin.users"))


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


@requires("can_manage_users")
def api_tokens() -> str:
    return render_template("admin/api_tokens.html", tokens=tokens.listing(db()), act_form=ActForm())


@requires("can_manage_users")
def api_token_create() -> ResponseReturnValue:
    form = ApiTokenForm()
    form.antenna.choices = [(0, "— Toutes les antennes —")] + _antenna_choices()[1:]
    error = None
    if form.validate_on_submit():
        session = db()
        try:
            issued = tokens.create(
                session,
                user().login,
                name=form.name.data or "",
                write=bool(form.write.data),
                antenna_id=form.antenna.data or None,
                now=now(),
            )
        except tokens.TokenError as refused:
            session.rollback()
            error = str(refused)
        else:
            session.commit()
            # Shown in this answer only: never in a redirect, a cookie or a log.
            return render_template("admin/api_token_issued.html", issued=issued)
    status = 422 if (error or form.errors) else 200
    return render_template("admin/api_token.html", form=form, error=error), status


@requires("can_manage_users")
def api_token_revoke(token_id: int) -> ResponseReturnValue:
    found = db().get(ApiToken, token_id)
    if found is None:
        abort(404)
    if not ActForm().validate_on_submit():
        abort(400)
    session = db()
    try:
        tokens.revoke(session, user().login, found, now=now())
    except tokens.TokenError as refused:
        session.rollback()
        flash(str(refused), "error")
    else:
        session.commit()
        flash(f"Jeton « {found.name} » révoqué : il est refusé dès maintenant.", "success")
    return redirect(url_for("admin.api_tokens"))
