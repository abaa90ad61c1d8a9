from flask import Blueprint

from extranet.admin import controllers

bp = Blueprint("admin", __name__)
bp.add_url_rule("/administration/utilisateurs", view_func=controllers.users)
