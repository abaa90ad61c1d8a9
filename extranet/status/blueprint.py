from flask import Blueprint

from extranet.status import controllers

bp = Blueprint("status", __name__)
bp.add_url_rule("/administration/etat", view_func=controllers.index)
# The banner on every page, from this module rather than from the app's own code.
bp.app_context_processor(controllers.banner)
