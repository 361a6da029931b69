"""Mint JWTs with a key of the test's own, for token cases the real IdP will not issue
(expired, wrong audience, wrong issuer). The key is added to the keys the portal trusts only
where a test asks for it (``trust_test_key``)."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt
from joserfc.jwk import RSAKey

TEST_KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key", "alg": "RS256", "use": "sig"})


def mint(claims: dict, *, key: RSAKey = TEST_KEY, header: dict | None = None) -> str:
    now = int(time.time())
    body = {"iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "scope": "devices:read"}
    body.update(claims)
    head = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}
    head.update(header or {})
    return jwt.encode(head, body, key)
