from flask import Blueprint

from extranet.stats import controllers
from extranet.stats.cells import screen_text
from extranet.stats.states import STATES

bp = Blueprint("stats", __name__)
_SLUGS = ", ".join(f'"{slug}"' for slug in STATES)
bp.add_url_rule("/statistiques", view_func=controllers.index)
bp.add_url_rule(f"/statistiques/<any({_SLUGS}):slug>", "state", view_func=controllers.state)
bp.add_url_rule(
    f"/statistiques/<any({_SLUGS}):slug>.<any(csv, xlsx, pdf):fmt>",
    "export",
    view_func=controllers.export,
)
bp.add_app_template_global(screen_text, "screen_text")
