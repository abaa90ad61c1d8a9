from flask import Blueprint

from extranet.admin import controllers

bp = Blueprint("admin", __name__)
bp.add_url_rule("/administration/utilisateurs", view_func=controllers.users)
bp.add_url_rule("/administration/financeurs", view_func=controllers.funders)
bp.add_url_rule(
    "/administration/financeurs/<int:funder_id>",
    view_func=controllers.funder,
    methods=["GET", "POST"],
)
