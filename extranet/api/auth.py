"""The API's gate: the bearer token, its rate limit, its scopes, and the audit of every call.

Before each view: the ``Authorization: Bearer tg_...`` token is looked up by
its SHA-256 (401 when absent, unknown or revoked), then counted in its
one-minute window by a single ``UPDATE ... RETURNING`` committed at once (so
parallel calls across gunicorn workers cannot pass the limit; 429 with
``Retry-After`` beyond it). Each view names the scope it needs (403 without).
After each call of a known token, one ``api.call`` entry goes to the audit
journal with the method, path, query and status. Calls without a known token
are logged, not journalled: an anonymous client must not be able to fill the
journal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, request
from sqlalchemy import Table, case, literal, or_, update
from sqlalchemy.orm import Session

from extranet.api import tokens
from extranet.api.errors import ApiError
from extranet.models import ApiScope, ApiToken
from extranet.web import client_address, db, now
from ledger.service import audit
from ledger.timeutil import as_utc

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
F = TypeVar("F", bound=Callable[..., Any])


def token() -> ApiToken:
    """The calling token (inside API views only)."""
    return cast(ApiToken, g.api_token)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate() -> None:
    """Before every API view: who calls, and whether they may call now."""
    secret = _bearer()
    found = None if secret is None else tokens.find(db(), secret)
    if found is None:
        logger.info("API call without a known token from %s: %r", client_address(), request.path)
        raise ApiError(401, headers={"WWW-Authenticate": 'Bearer realm="telegestion"'})
    g.api_token = found
    if found.revoked_at is not None:
        raise ApiError(
            401,
            "token_revoked",
            "Ce jeton a été révoqué.",
            headers={"WWW-Authenticate": 'Bearer realm="telegestion", error="invalid_token"'},
        )
    limit = current_app.extensions["telegestion"].settings.api_calls_per_minute
    wait = count_call(db(), found, now(), limit)
    if wait is not None:
        raise ApiError(429, headers={"Retry-After": str(wait)})


def count_call(session: Session, found: ApiToken, moment: datetime, limit: int) -> int | None:
    """Count one call in the token's window and commit; seconds to wait when over the limit."""
    table = cast(Table, ApiToken.__table__)
    column = table.c
    when = column.window_started_at.type
    fresh = or_(
        column.window_started_at.is_(None),
        column.window_started_at <= literal(moment - WINDOW, when),
    )
    calls, started = session.execute(
        update(table)
        .where(column.id == found.id)
        .values(
            window_calls=case((fresh, 1), else_=column.window_calls + 1),
            window_started_at=case((fresh, literal(moment, when)), else_=column.window_started_at),
            last_used_at=literal(moment, when),
        )
        .returning(column.window_calls, column.window_started_at)
    ).one()
    session.commit()
    if calls <= limit:
        return None
    left = (as_utc(started) + WINDOW - moment).total_seconds()
    return max(1, math.ceil(left))


def needs(scope: ApiScope) -> Callable[[F], F]:
    """A view for tokens holding ``scope``; else 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not token().allows(scope):
                raise ApiError(
                    403, "scope_missing", f"Ce jeton n'a pas le droit « {scope.value} »."
                )
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def journal(response: Response) -> Response:
    """After every call of a known token: one audit entry, in its own transaction.

    Whatever a view left uncommitted is discarded first (views commit their
    own work, one transaction per request).
    """
    found: ApiToken | None = g.get("api_token")
    if found is None:
        return response
    session = db()
    try:
        session.rollback()
        audit(
            session,
            found.actor,
            "api.call",
            "api_token",
            found.id,
            antenna_id=found.antenna_id,
            method=request.method,
            path=request.path[:200],
            query=request.query_string.decode("utf-8", "replace")[:500],
            status=response.status_code,
            address=client_address(),
        )
        session.commit()
    except Exception:  # the answer is already made: never turn it into a 500
        session.rollback()
        logger.exception("API call of token %s not journalled", found.id)
    return response
