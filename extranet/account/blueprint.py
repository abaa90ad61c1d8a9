from flask import Blueprint

from extranet.account import controllers

bp = Blueprint("account", __name__)
bp.add_url_rule("/mon-compte/mot-de-passe", view_func=controllers.password, methods=["GET", "POST"])
