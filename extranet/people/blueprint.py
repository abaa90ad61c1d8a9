from flask import Blueprint

from extranet.people import controllers

bp = Blueprint("people", __name__)
bp.add_url_rule("/beneficiaires", view_func=controllers.beneficiaries)
bp.add_url_rule("/beneficiaires/<int:beneficiary_id>", view_func=controllers.beneficiary)
bp.add_url_rule("/intervenants", view_func=controllers.workers)
bp.add_url_rule("/intervenants/<int:worker_id>", view_func=controllers.worker)
bp.add_url_rule(
    "/intervenants/<int:worker_id>/langue", view_func=controllers.worker_language, methods=["POST"]
)
