"""The REST API's blueprint (flask-smorest): the token gate before every view,
the audit after every call, errors as JSON; the routes are in ``controllers``."""

from flask_smorest import Blueprint

from extranet.api import auth
from extranet.api.errors import ApiError, answer

bp = Blueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    description="Interventions, personnes, appels, statistiques ; corrections et saisies.",
)
bp.before_request(auth.authenticate)
bp.after_request(auth.journal)
bp.register_error_handler(ApiError, answer)
