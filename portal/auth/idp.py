"""The company identity provider as an OIDC client: registration, discovery, metadata.

Shared by browser sign-in (``signin``) and bearer-token checks (``api.auth``), so neither
imports the other.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import current_app


class SignInFailed(Exception):
    """Sign-in could not finish; the message is for the log, never for the page."""


def register_client(app) -> None:
    """Register the IdP with Authlib: discovery, PKCE S256; nonce and state are Authlib's.

    One Authlib registry per app (not a module global), so apps with different settings can
    live in one process, as they do in the tests.
    """
    oauth = app.extensions["portal_oauth"] = OAuth(app)
    if not app.config.get("OIDC_ISSUER"):
        return
    oauth.register(
        "idp",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=app.config["OIDC_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "timeout": app.config["OIDC_TIMEOUT"],
        },
    )


def idp_client():
    client = current_app.extensions["portal_oauth"].create_client("idp")
    if client is None:
        raise SignInFailed("no identity provider is configured (PORTAL_OIDC_ISSUER)")
    return client


def idp_metadata() -> dict:
    """The IdP's discovery document (fetched once by Authlib, then cached)."""
    metadata = idp_client().load_server_metadata()
    expected = current_app.config["OIDC_ISSUER"]
    if metadata.get("issuer", "").rstrip("/") != expected:
        raise SignInFailed(f"discovery issuer {metadata.get('issuer')!r} is not {expected!r}")
    return metadata
