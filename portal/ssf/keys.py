"""The keys the portal signs its Security Event Tokens with, and their public halves (the JWKS).

RS256 by default, as the CAEP Interoperability Profile requires (section 2.3: RSA keys of at
least 2048 bits). From ``PORTAL_SSF_SIGNING_KEY_FILE`` (a private JWK as JSON, or a PEM key: RSA
of 2048 bits or more signs with RS256; an EC P-256 key, ES256, is still read for deployments
configured before, though a receiver built to the profile refuses it); outside production
without one, a 2048-bit RSA key is generated once into the instance folder and kept there, so
every process of the instance (the portal and its workers) signs with the same key across
restarts. The ``kid`` is the key's RFC 7638 thumbprint unless the JWK names one.

Rotation: the old key's file goes to ``PORTAL_SSF_PREVIOUS_KEY_FILE`` (its public half is
enough) and the new one to ``PORTAL_SSF_SIGNING_KEY_FILE``. Every SET is signed when it leaves
(pushed or handed to a poll), so from then on only the new key signs, while the JWKS keeps
publishing the old one for receivers still checking what they took before
(``docs/ssf.md``, "Delivery").
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
# The smallest RSA key the portal signs with or publishes (the profile's floor).
MIN_RSA_BITS = 2048
GENERATED_RSA_BITS = 2048


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
            raise InvalidSigningKey(f"a JWK of kty RSA or EC is needed, not {data.get('kty')!r}")
        return kinds[data["kty"]].import_key(data)
    for kind in (RSAKey, ECKey):
        try:
            return kind.import_key(stripped)
        except (JoseError, ValueError, TypeError):
            continue
    raise InvalidSigningKey("neither an RSA nor an EC key in PEM")


def _read(path: str | os.PathLike, *, private: bool) -> SigningKey:
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
    if private and not key.is_private:
        raise InvalidSigningKey("the file holds a public key; the private key is needed")
    if isinstance(key, ECKey):
        if key.curve_name != "P-256":
            raise InvalidSigningKey(f"an EC key must be on P-256, not {key.curve_name}")
        alg = "ES256"
    else:
        if key.raw_value.key_size < MIN_RSA_BITS:
            raise InvalidSigningKey(f"an RSA key must have {MIN_RSA_BITS} bits or more")
        alg = "RS256"
    return SigningKey(key, key.kid or key.thumbprint(), alg)


def read_signing_key(path: str | os.PathLike) -> SigningKey:
    """The private key in the file at ``path`` (raises ``InvalidSigningKey``)."""
    return _read(path, private=True)


def read_previous_key(path: str | os.PathLike) -> SigningKey:
    """A rotated-out key (private or public) whose public half the JWKS keeps publishing."""
    return _read(path, private=False)


def generated_key(instance_path: str) -> SigningKey:
    """The instance's own RSA key, generated into its folder the first time (development).

    Written whole under another name, then linked into place (which fails when the name is
    taken): of two processes starting at once one key wins, and both read that one. A key an
    older version generated there (EC P-256) is replaced, since receivers built to the profile
    accept RS256 only; nothing but this instance ever trusted it.
    """
    path = Path(instance_path) / GENERATED_KEY_NAME
    if path.exists():
        found = read_signing_key(path)
        if found.alg == "RS256":
            return found
        path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(GENERATED_RSA_BITS, private=True)
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
