"""Admin pages: user search, one user's devices, revoking, sign-ins across users, the audit log."""

from . import audit_log, revoking, sign_ins, users  # noqa: F401  (their routes)
from .blueprint import bp


def init_app(app) -> None:
    from .audit_words import action_words, detail_facts, detail_sentence

    app.jinja_env.filters["action_words"] = action_words
    app.jinja_env.filters["detail_sentence"] = detail_sentence
    app.jinja_env.filters["detail_facts"] = detail_facts
    app.register_blueprint(bp)
