from flask import Blueprint

from extranet.planning import controllers

bp = Blueprint("planning", __name__)
bp.add_url_rule("/planning", view_func=controllers.index)
