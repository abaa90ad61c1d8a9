from flask import Blueprint, redirect, url_for

from extranet.visits import controllers

bp = Blueprint("visits", __name__)
bp.add_url_rule("/", "home", view_func=lambda: redirect(url_for("visits.today")))
bp.add_url_rule("/interventions/aujourdhui", view_func=controllers.today)
bp.add_url_rule("/interventions/<int:visit_id>", view_func=controllers.detail)
bp.add_url_rule(
    "/interventions/<int:visit_id>/corriger", view_func=controllers.correct, methods=["POST"]
)
bp.add_url_rule("/interventions/saisie", view_func=controllers.manual, methods=["GET", "POST"])
bp.add_url_rule("/interventions/export.csv", view_func=controllers.export, methods=["POST"])
