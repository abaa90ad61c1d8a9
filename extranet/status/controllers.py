"""The status page (administrators) and the banner of parts down (administrators
and central referents), both from the watchdog's states (``kernel.alerts``)."""

from __future__ import annotations

import logging
from typing import Any

from flask import render_template
from sqlalchemy.exc import SQLAlchemyError

from extranet.web import current_user, db, requires
from kernel.alerts import states

logger = logging.getLogger(__name__)


@requires("can_see_service_status")
def index() -> str:
    return render_template("status/index.html", checks=states(db()))


def banner() -> dict[str, Any]:
    """``service_down``: the parts down, for the banner of those who see it."""
    found = current_user()
    if found is None or not found.sees_service_alerts:
        return {"service_down": []}
    try:
        down = [state for state in states(db()) if not state.ok]
    except SQLAlchemyError:
        # The banner must never cost the page: the watchdog mails about the database.
        logger.warning("service states not read for the banner", exc_info=True)
        return {"service_down": []}
    return {"service_down": down}
