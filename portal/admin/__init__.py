"""Admin pages: user search, one user's devices, the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import sign_ins, views  # noqa: E402,F401


def init_app(app) -> None:
    from .audit_words import action_words, detail_sentence

    app.jinja_env.filters["action_words"] = action_words
    app.jinja_env.filters["detail_sentence"] = detail_sentence
    app.register_blueprint(bp)
