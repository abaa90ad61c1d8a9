from flask import Blueprint

from extranet.statements import controllers

bp = Blueprint("statements", __name__)
bp.add_url_rule("/etats-mensuels", view_func=controllers.index)
bp.add_url_rule("/etats-mensuels/<int:statement_id>.pdf", view_func=controllers.download)
