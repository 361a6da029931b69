"""Schemathesis hooks for tests/api/test_fuzz_api.py: every request carries a live personal token.

The fuzzer calls every operation, revoke-all and "remove this device" included, and those end
the very token it calls with (as they must). So before each request this checks, in the
portal's database, that the token still works, and makes the fuzzing user a new one when it
does not. Loaded by the schemathesis CLI (SCHEMATHESIS_HOOKS), in its own process.
"""

from __future__ import annotations

import os

import schemathesis
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import User
from portal.services import tokens

_app = create_app({"ENV": "testing", "DATABASE_URL": os.environ["FUZZ_DATABASE_URL"]})
_state: dict[str, str] = {}


def live_token() -> str:
    """A personal token of the fuzzing user that works now (made anew when it was ended)."""
    with _app.app_context():
        secret = _state.get("secret")
        found = tokens.find(secret) if secret else None
        if found is None or not tokens.is_active(found.token):
            user = db.session.execute(
                select(User).where(User.subject == os.environ["FUZZ_SUBJECT"])
            ).scalar_one()
            _, secret = tokens.create(user, name="fuzzer", scopes=list(tokens.SCOPES), days=1)
            db.session.commit()
            _state["secret"] = secret
        db.session.remove()
        return secret


@schemathesis.auth()
class LivePersonalToken:
    def get(self, case, ctx):
        return live_token()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {live_token()}"
