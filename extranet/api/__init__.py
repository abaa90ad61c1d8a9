"""The REST API ``/api/v1`` for client systems (planning software, payroll, BI).

Built by ``init_app`` from the extranet's composition root: a flask-smorest
``Api`` generating the OpenAPI document (``/api/v1/openapi.json``) from the
schemas, the blueprint of ``controllers``, the token gate of ``auth`` and the
JSON errors of ``errors``. Decision 0330.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from extranet.api import controllers  # noqa: F401 - registers the routes on ``bp``
from extranet.api.blueprint import bp
from extranet.api.schemas import ErrorOut

DESCRIPTION = """\
API REST de la télégestion : lire les interventions (avec leurs versions et
leurs appels bruts), les bénéficiaires, les intervenants, les appels et les
statistiques ; corriger une intervention et saisir une intervention non
pointée, avec les règles, les droits et les clôtures de mois de l'extranet.

The télégestion REST API: read visits (with their versions and raw calls),
beneficiaries, workers, call events and statistics; correct a visit and enter
a manual visit, under the extranet's rules, rights and month locks.

Authentification / authentication: `Authorization: Bearer tg_...`, a token
created by an administrator (Administration → Jetons d'API), with the scopes
`read` and optionally `write`, possibly restricted to one antenna. Every call
is journalled; each token has a rate limit per minute (429 with
`Retry-After`). Errors: `{"code": "...", "message": "..."}`, the code stable,
the message in French. Times are ISO 8601 instants with their offset; days
are Europe/Paris calendar days.
"""


class _Api(Api):  # type: ignore[misc]
    """flask-smorest's Api with our error schema, and without its app-wide error
    handler: the extranet's pages keep their HTML errors (``extranet.app``)."""

    ERROR_SCHEMA = ErrorOut

    def _register_error_handlers(self) -> None:
        pass


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    app.config.update(
        API_TITLE="Télégestion",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
    )
    # French messages as they are, not escaped to ASCII.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    api = _Api(app)
    # The bearer token is the credential: no session cookie, so no CSRF to check.
    csrf.exempt(bp)
    api.register_blueprint(bp)
