"""My account: every user changes their own password here (and must, after an
administrator set a temporary one)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from extranet.account.forms import PasswordChangeForm
from extranet.auth.session import end_sessions, keep_this_session
from extranet.passwords import PasswordPolicyError, hash_password, verify
from extranet.web import authenticated, db, user
from ledger.service import audit


@authenticated
def password() -> ResponseReturnValue:
    me = user()
    if me.password_hash is None:
        # An account that only logs in through single sign-on has no password here.
        return render_template("account/password.html", form=None, forced=False)
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        if not verify(me.password_hash, form.current.data or ""):
            form.current.errors = ["Le mot de passe actuel est incorrect."]
        elif form.new.data == form.current.data:
            form.new.errors = ["Le nouveau mot de passe doit différer de l'actuel."]
        else:
            try:
                new_hash = hash_password(form.new.data or "", login=me.login)
            except PasswordPolicyError as refused:
                form.new.errors = [str(refused)]
            else:
                session_db = db()
                me.password_hash = new_hash
                me.must_change_password = False
                end_sessions(session_db, me)  # other devices: logged out
                audit(session_db, me.login, "user.password_changed", "user", me.id, by="self")
                session_db.commit()
                keep_this_session(me)
                flash("Mot de passe changé. Vos autres sessions sont fermées.", "success")
                return redirect(url_for("visits.today"))
    if form.is_submitted():
        status = 422
    forced = me.must_change_password
    return render_template("account/password.html", form=form, forced=forced), status
