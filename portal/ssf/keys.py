"""The key the portal signs its Security Event Tokens with, and its public half (the JWKS).

From ``PORTAL_SSF_SIGNING_KEY_FILE`` (a private JWK as JSON, or a PEM key: EC P-256 signs with
ES256, RSA of 2048 bits or more with RS256); outside production without one, a P-256 key is
generated once into the instance folder and kept there, so every process of the instance (the
portal and its workers) signs with the same key across restarts. The ``kid`` is the key's
RFC 7638 thumbprint unless the JWK names one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

# Where a development instance keeps the key it generated for itself.
GENERATED_KEY_NAME = "ssf-signing-key.json"


class InvalidSigningKey(ValueError):
    """The key file is missing, unreadable, public only, or of a kind SETs are not signed with."""


@dataclass(frozen=True)
class SigningKey:
    key: ECKey | RSAKey
    kid: str
    alg: str

    def public_jwk(self) -> dict:
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"}


def _import(text: str) -> ECKey | RSAKey:
    stripped = text.strip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        kinds: dict[str, type[ECKey] | type[RSAKey]] = {"EC": ECKey, "RSA": RSAKey}
        if data.get("kty") not in kinds:
            raise InvalidSigningKey(f"a JWK of kty EC or RSA is needed, not {data.get('kty')!r}")
        return kinds[data["kty"]].import_key(data)
    for kind in (ECKey, RSAKey):
        try:
            return kind.import_key(stripped)
        except (JoseError, ValueError, TypeError):
            continue
    raise InvalidSigningKey("neither an EC nor an RSA key in PEM")


def read_signing_key(path: str | os.PathLike) -> SigningKey:
    """The private key in the file at ``path`` (raises ``InvalidSigningKey``)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidSigningKey(f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        key = _import(text)
    except (JoseError, ValueError, TypeError) as exc:
        if isinstance(exc, InvalidSigningKey):
            raise
        raise InvalidSigningKey(f"not a key: {type(exc).__name__}") from None
    if not key.is_private:
        raise InvalidSigningKey("the file holds a public key; the private key is needed")
    if isinstance(key, ECKey):
        if key.curve_name != "P-256":
            raise InvalidSigningKey(f"an EC key must be on P-256, not {key.curve_name}")
        alg = "ES256"
    else:
        if key.raw_value.key_size < 2048:
            raise InvalidSigningKey("an RSA key must have 2048 bits or more")
        alg = "RS256"
    return SigningKey(key, key.kid or key.thumbprint(), alg)


def generated_key(instance_path: str) -> SigningKey:
    """The instance's own key, generated into its folder the first time (development).

    Written whole under another name, then linked into place (which fails when the name is
    taken): of two processes starting at once one key wins, and both read that one.
    """
    path = Path(instance_path) / GENERATED_KEY_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key("P-256", private=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".ssf-key-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(key.as_dict(private=True), f)
            os.link(scratch, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(scratch)
    return read_signing_key(path)
