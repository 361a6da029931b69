"""A small Shared Signals transmitter for the receiver's tests, apart from the portal's code:
it serves its SSF metadata and JWKS over real HTTP (a thread), signs SETs with joserfc, serves
a poll endpoint (RFC 8936) from a queue and keeps what the receiver acknowledged, hands out
client-credentials tokens, and accepts a stream and a verification request (SSF 1.0) whose
verification SET it pushes to the stream's endpoint."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_ENABLED = RISC + "account-enabled"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"

POLL_TOKEN = "poll-access-token-of-the-test-transmitter"


class FakeTransmitter:
    def __init__(self, kid: str = "t1"):
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.transmitter = self  # type: ignore[attr-defined]
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.queue: dict[str, str] = {}  # jti -> SET, for polls
        self.acked: list[str] = []
        self.set_errs: dict[str, dict] = {}
        self.polls: list[dict] = []
        self.streams: list[dict] = []
        self.verifications: list[dict] = []
        self.jwks_fetches = 0
        self.publish_metadata = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()

    def reset(self) -> None:
        self.queue.clear()
        self.acked.clear()
        self.set_errs.clear()
        self.polls.clear()
        self.streams.clear()
        self.verifications.clear()
        self.publish_metadata = True

    # -- SETs

    def claims(
        self, event_type: str, subject: dict | None, body: dict | None = None, **overrides
    ) -> dict:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": overrides.pop("aud", "https://portal.test"),
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "events": {event_type: body or {"event_timestamp": int(time.time())}},
        }
        if subject is not None:
            claims["sub_id"] = subject
        claims.update(overrides)
        return claims

    def sign(self, claims: dict, *, key: RSAKey | None = None, header: dict | None = None) -> str:
        key = key or self.key
        head = {"alg": "RS256", "kid": key.kid, "typ": "secevent+jwt"}
        head.update(header or {})
        return jwt.encode(head, claims, key, algorithms=[head["alg"]])

    def set_of(self, event_type: str, subject: dict | None, body: dict | None = None, **kw) -> str:
        return self.sign(self.claims(event_type, subject, body, **kw))

    def jwks(self) -> dict:
        return {"keys": [self.key.as_dict(private=False)]}


def iss_sub(iss: str, sub: str) -> dict:
    return {"format": "iss_sub", "iss": iss, "sub": sub}


def email(address: str) -> dict:
    return {"format": "email", "email": address}


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, status: int, body: Any = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        t: FakeTransmitter = self.server.transmitter
        if self.path == "/.well-known/ssf-configuration" and t.publish_metadata:
            self._json(
                200,
                {
                    "spec_version": "1_0",
                    "issuer": t.issuer,
                    "jwks_uri": t.issuer + "/jwks.json",
                    "configuration_endpoint": t.issuer + "/streams",
                    "verification_endpoint": t.issuer + "/verify",
                    "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
                    "events_supported": [SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED],
                },
            )
        elif self.path == "/jwks.json":
            t.jwks_fetches += 1
            self._json(200, t.jwks())
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        t: FakeTransmitter = self.server.transmitter
        if self.path == "/token":
            form = self._body().decode()
            ok = "grant_type=client_credentials" in form and self.headers.get("Authorization")
            if not ok:
                self._json(401, {"error": "invalid_client"})
            else:
                self._json(200, {"access_token": POLL_TOKEN, "expires_in": 300})
            return
        if self.headers.get("Authorization") != f"Bearer {POLL_TOKEN}":
            self._json(401, {"error": "invalid_token"})
            return
        body = json.loads(self._body() or b"{}")
        if self.path == "/poll":
            t.polls.append(body)
            t.acked.extend(body.get("ack", []))
            t.set_errs.update(body.get("setErrs", {}))
            for jti in list(body.get("ack", [])) + list(body.get("setErrs", {})):
                t.queue.pop(jti, None)
            most = body.get("maxEvents", 10)
            sets = dict(list(t.queue.items())[:most]) if most else {}
            self._json(200, {"sets": sets, "moreAvailable": len(t.queue) > len(sets)})
        elif self.path == "/streams":
            stream = {**body, "stream_id": uuid.uuid4().hex, "iss": t.issuer}
            if body.get("delivery", {}).get("method") == "urn:ietf:rfc:8936":
                stream["delivery"] = {**body["delivery"], "endpoint_url": t.issuer + "/poll"}
            t.streams.append(stream)
            self._json(201, stream)
        elif self.path == "/verify":
            t.verifications.append(body)
            [stream] = [s for s in t.streams if s["stream_id"] == body.get("stream_id")]
            self._json(204)
            verification = t.set_of(
                VERIFICATION,
                {"format": "opaque", "id": stream["stream_id"]},
                {"state": body.get("state")},
                aud=stream.get("aud", "https://portal.test"),
            )

            if stream["delivery"]["method"] == "urn:ietf:rfc:8936":
                jti = json.loads(base64.urlsafe_b64decode(verification.split(".")[1] + "=="))["jti"]
                t.queue[jti] = verification
                return

            def push() -> None:
                time.sleep(0.2)
                requests.post(
                    stream["delivery"]["endpoint_url"],
                    data=verification,
                    headers={
                        "Content-Type": "application/secevent+jwt",
                        "Authorization": stream["delivery"]["authorization_header"],
                    },
                    timeout=10,
                )

            threading.Thread(target=push, daemon=True).start()
        else:
            self._json(404, {"error": "not found"})


# -- what the receiver's tests share ------------------------------------------------------------

RECEIVE_TOKEN = "receive-token-" + "r" * 32
PORTAL_AUDIENCE = "https://portal.test"


def push(client, token: str, *, bearer: str | None = RECEIVE_TOKEN, content_type=None):
    """POST the SET to the portal's /ssf/events as a transmitter does (RFC 8935)."""
    headers = {"Content-Type": content_type or "application/secevent+jwt"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return client.post("/ssf/events", data=token, headers=headers)
