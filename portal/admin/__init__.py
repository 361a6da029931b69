"""Admin pages: user search, one user's devices, the audit log."""

from . import sign_ins, views  # noqa: F401  (their routes)
from .blueprint import bp


def init_app(app) -> None:
    from .audit_words import action_words, detail_sentence

    app.jinja_env.filters["action_words"] = action_words
    app.jinja_env.filters["detail_sentence"] = detail_sentence
    app.register_blueprint(bp)
