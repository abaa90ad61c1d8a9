from flask import Blueprint

from extranet.stats import controllers

bp = Blueprint("stats", __name__)
bp.add_url_rule("/statistiques", view_func=controllers.index)
bp.add_url_rule("/statistiques/beneficiaires", view_func=controllers.beneficiaries)
