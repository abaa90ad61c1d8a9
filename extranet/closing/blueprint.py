from flask import Blueprint

from extranet.closing import controllers
from ledger.money import format_hours

bp = Blueprint("closing", __name__)
bp.add_url_rule("/cloture", view_func=controllers.index)
bp.add_url_rule("/cloture/<mois>", view_func=controllers.month)
bp.add_url_rule("/cloture/<mois>/financeurs/<financeur>", view_func=controllers.funder)
bp.add_url_rule(
    "/cloture/<mois>/financeurs/<financeur>/interventions", view_func=controllers.visits
)
bp.add_url_rule(
    "/cloture/<mois>/financeurs/<financeur>/valider",
    view_func=controllers.validate,
    methods=["POST"],
)
bp.add_url_rule("/cloture/<mois>/cloturer", view_func=controllers.close, methods=["POST"])
bp.add_url_rule("/cloture/<mois>/rouvrir", view_func=controllers.reopen, methods=["POST"])
# Minutes as people read them ("12 h 05"): the ledger's one formatting of money.
bp.add_app_template_filter(format_hours, "minutes_hm")
