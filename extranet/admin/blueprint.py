from flask import Blueprint

from extranet.admin import controllers

bp = Blueprint("admin", __name__)
bp.add_url_rule("/administration/utilisateurs", view_func=controllers.users)
bp.add_url_rule(
    "/administration/utilisateurs/nouveau",
    view_func=controllers.create,
    methods=["GET", "POST"],
)
bp.add_url_rule(
    "/administration/utilisateurs/<int:user_id>",
    view_func=controllers.edit,
    methods=["GET", "POST"],
)
bp.add_url_rule(
    "/administration/utilisateurs/<int:user_id>/desactiver",
    view_func=controllers.deactivate,
    methods=["POST"],
)
bp.add_url_rule(
    "/administration/utilisateurs/<int:user_id>/reactiver",
    view_func=controllers.reactivate,
    methods=["POST"],
)
bp.add_url_rule(
    "/administration/utilisateurs/<int:user_id>/mot-de-passe",
    view_func=controllers.reset_password,
    methods=["POST"],
)
bp.add_url_rule(
    "/administration/connexions/debloquer", view_func=controllers.unlock, methods=["POST"]
)
bp.add_url_rule("/administration/financeurs", view_func=controllers.funders)
bp.add_url_rule(
    "/administration/financeurs/<int:funder_id>",
    view_func=controllers.funder,
    methods=["GET", "POST"],
)
bp.add_url_rule("/administration/jetons-api", view_func=controllers.api_tokens)
bp.add_url_rule(
    "/administration/jetons-api/nouveau",
    view_func=controllers.api_token_create,
    methods=["GET", "POST"],
)
bp.add_url_rule(
    "/administration/jetons-api/<int:token_id>/revoquer",
    view_func=controllers.api_token_revoke,
    methods=["POST"],
)
