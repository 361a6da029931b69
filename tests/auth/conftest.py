"""Fixtures of the sign-in tests: Alice on a laptop and a phone, real HTTP browsers, for the
revocation tests (the bulk sign-out's in ``tests/worker`` import them too)."""

from support.browsers import alice, browsers  # noqa: F401  (fixtures)
