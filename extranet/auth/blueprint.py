from flask import Blueprint

from extranet.auth import controllers

bp = Blueprint("auth", __name__)
bp.add_url_rule("/connexion", view_func=controllers.login, methods=["GET", "POST"])
bp.add_url_rule("/deconnexion", view_func=controllers.logout, methods=["POST"])
