from flask import Blueprint

from extranet.runs import controllers

bp = Blueprint("runs", __name__)
bp.add_url_rule("/echanges", view_func=controllers.index)
bp.add_url_rule("/echanges/<int:run_id>/fichiers/<int:index>", view_func=controllers.download)
