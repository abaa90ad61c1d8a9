from flask import Blueprint

from extranet.alerts import controllers

bp = Blueprint("alerts", __name__)
bp.add_url_rule("/alertes", view_func=controllers.index)
bp.add_url_rule("/alertes/prise-en-compte", view_func=controllers.acknowledge, methods=["POST"])
