"""Administration of the accounts: list, create, change role and antenna,
deactivate, reactivate, reset a password, lift a login lockout. Every act goes
through ``extranet.admin.services`` (rules, sessions ended, audit)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from extranet.admin import services
from extranet.admin.forms import AccountForm, ActForm, UnlockForm
from extranet.auth.throttle import Throttle
from extranet.models import Role, ThrottleScope, User
from extranet.web import db, now, requires, user
from ledger.models import Antenna


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
