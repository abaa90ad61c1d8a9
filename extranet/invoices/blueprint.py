from flask import Blueprint

from extranet.invoices import controllers

bp = Blueprint("invoices", __name__)
bp.add_url_rule("/factures-departement", view_func=controllers.index)
bp.add_url_rule("/factures-departement/<int:invoice_id>.pdf", view_func=controllers.download)
