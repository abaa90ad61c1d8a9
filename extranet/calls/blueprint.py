from flask import Blueprint

from extranet.calls import controllers

bp = Blueprint("calls", __name__)
bp.add_url_rule("/appels/incomplets", view_func=controllers.incomplete)
bp.add_url_rule(
    "/appels/<int:event_id>/rattacher", view_func=controllers.attach, methods=["GET", "POST"]
)
