"""The REST API's errors: JSON with a stable machine code and a French message.

Every refusal under ``/api/`` answers ``{"code": ..., "message": ..., "details": ...}``:
``code`` is for programs (stable, English), ``message`` for people (French).
A month-lock refusal is 409 ``month_closed``, a rule of the ledger 422
``rule_refused``; no malformed input is ever a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

PREFIX = "/api/"

#: status -> (code, message) when nothing more precise is known.
DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "La demande n'est pas valide."),
    401: ("unauthenticated", "Jeton d'accès absent, inconnu ou révoqué."),
    403: ("forbidden", "Ce jeton n'a pas le droit de faire cette action."),
    404: ("not_found", "Cet objet n'existe pas ou n'est pas accessible avec ce jeton."),
    405: ("method_not_allowed", "Cette méthode n'est pas permise sur cette adresse."),
    406: ("not_acceptable", "Cette API ne répond qu'en JSON."),
    409: ("conflict", "La demande est en conflit avec l'état de l'objet."),
    413: ("too_large", "La demande est trop volumineuse."),
    415: ("unsupported_media_type", "Le corps de la demande doit être du JSON."),
    422: ("invalid_parameters", "Les paramètres de la demande ne sont pas valides."),
    429: ("rate_limited", "Trop de demandes pour ce jeton : réessayez plus tard."),
    500: ("internal_error", "Erreur interne : la demande n'a pas abouti."),
}


class ApiError(Exception):
    """A refusal the API answers as is (raised by the views and the token check)."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_code, default_message = DEFAULTS.get(status, DEFAULTS[400])
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


def answer(error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def from_http_exception(error: HTTPException) -> Response:
    """Werkzeug's and webargs' exceptions (routing, parsing, validation) as API errors."""
    status = error.code or 500
    if status not in DEFAULTS:
        status = 500 if status >= 500 else 400
    data = getattr(error, "data", None) or {}
    details = data.get("messages") or data.get("errors")
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    return answer(ApiError(status, details=details or None, headers=headers))


def from_exception(error: Exception) -> Response:
    logger.exception("API error on %s", request.path)
    return answer(ApiError(500))
