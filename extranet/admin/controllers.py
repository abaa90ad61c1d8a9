"""Administration: the user accounts (created and changed with ``telegestion users``)."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from extranet.models import User
from extranet.web import db, requires


@requires("can_manage_users")
def users() -> str:
    rows = (
        db()
        .scalars(select(User).options(joinedload(User.antenna)).order_by(User.role, User.login))
        .all()
    )
    return render_template("admin/users.html", users=rows)
