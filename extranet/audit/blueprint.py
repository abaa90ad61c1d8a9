from flask import Blueprint

from extranet.audit import controllers

bp = Blueprint("audit", __name__)
bp.add_url_rule("/journal", view_func=controllers.index)
