"""The transmitter's signing keys: RS256 with 2048 bits or more by default (CAEP Interoperability
Profile, "Event Signatures"), smaller RSA keys refused, and a rotation that keeps the previous
key in the JWKS while only the new one signs. Every SET is checked with two JOSE libraries
(joserfc, which the portal signs with, and authlib's jose, which it does not)."""

from __future__ import annotations

import json

import pytest
from authlib.jose import JsonWebKey
from authlib.jose import jwt as authlib_jwt
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from portal import create_app
from portal.config import ConfigError
from portal.ssf import keys, push

# The small keys are made on purpose, to be refused.
pytestmark = pytest.mark.filterwarnings("ignore:Key size should be:UserWarning")


def _write(path, key, *, private=True):
    path.write_text(json.dumps(key.as_dict(private=private)))
    return path


@pytest.fixture
def transmitting(app_config, live_port, ssf_signing_key):
    app_config.update(
        SSF_RECEIVER_URL="http://127.0.0.1:9/ssf/events",
        SSF_ISSUER=f"http://127.0.0.1:{live_port}",
        SSF_SIGNING_KEY_FILE=str(ssf_signing_key),
    )
    return app_config


def _verify_both(token: str, jwks: dict) -> dict:
    """The claims of ``token`` as both libraries read them, checked against ``jwks``."""
    first = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    second = authlib_jwt.decode(token, JsonWebKey.import_key_set(jwks))
    second.validate()
    assert first.header["alg"] == "RS256" and first.header["typ"] == "secevent+jwt"
    assert dict(second) == first.claims
    return first.claims


def test_a_development_instance_generates_a_2048_bit_rsa_key_once(tmp_path):
    first = keys.generated_key(str(tmp_path))
    again = keys.generated_key(str(tmp_path))
    assert first.alg == "RS256" and first.kid == again.kid
    assert isinstance(first.key, RSAKey) and first.key.raw_value.key_size >= 2048
    public = first.public_jwk()
    assert public["kty"] == "RSA" and public["alg"] == "RS256" and "d" not in public


def test_an_ec_key_an_older_version_generated_is_replaced_by_an_rsa_one(tmp_path):
    _write(tmp_path / keys.GENERATED_KEY_NAME, ECKey.generate_key("P-256", private=True))
    assert keys.generated_key(str(tmp_path)).alg == "RS256"


def test_an_rsa_key_under_2048_bits_is_refused_as_signing_or_previous_key(tmp_path):
    small = _write(tmp_path / "small.json", RSAKey.generate_key(1024, private=True))
    with pytest.raises(keys.InvalidSigningKey, match="2048 bits"):
        keys.read_signing_key(small)
    with pytest.raises(keys.InvalidSigningKey, match="2048 bits"):
        keys.read_previous_key(small)
    pem = tmp_path / "small.pem"
    pem.write_bytes(RSAKey.generate_key(1024, private=True).as_pem(private=True))
    with pytest.raises(keys.InvalidSigningKey, match="2048 bits"):
        keys.read_signing_key(pem)


def test_the_portal_will_not_start_with_a_small_rsa_key(transmitting, tmp_path):
    small = _write(tmp_path / "small.json", RSAKey.generate_key(1024, private=True))
    with pytest.raises(ConfigError, match="PORTAL_SSF_SIGNING_KEY_FILE: an RSA key must have"):
        create_app({**transmitting, "SSF_SIGNING_KEY_FILE": str(small)})
    with pytest.raises(ConfigError, match="PORTAL_SSF_PREVIOUS_KEY_FILE: an RSA key must have"):
        create_app({**transmitting, "SSF_PREVIOUS_KEY_FILE": str(small)})
    with pytest.raises(ConfigError, match="PORTAL_SSF_PREVIOUS_KEY_FILE: cannot read"):
        create_app({**transmitting, "SSF_PREVIOUS_KEY_FILE": str(tmp_path / "gone.json")})


def test_sets_are_rs256_with_the_published_key_and_verify_in_two_libraries(transmitting, app):
    client = app.test_client()
    published = client.get("/ssf/jwks.json").get_json()
    [key] = published["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert "d" not in key and "p" not in key
    claims = {"iss": "https://portal.example", "jti": "j1", "iat": 1, "events": {}}
    with app.app_context():
        token = push.sign(claims)
    assert jwt.decode(token, KeySet.import_key_set(published)).header["kid"] == key["kid"]
    assert _verify_both(token, published) == claims


def test_a_rotation_publishes_both_keys_and_signs_only_with_the_new_one(
    transmitting, app_config, tmp_path
):
    old = RSAKey.generate_key(2048, private=True)
    old_file = _write(tmp_path / "old.json", old, private=False)  # the public half is enough
    app_config["SSF_PREVIOUS_KEY_FILE"] = str(old_file)
    app = create_app(app_config)
    published = app.test_client().get("/ssf/jwks.json").get_json()
    current = keys.read_signing_key(transmitting["SSF_SIGNING_KEY_FILE"])
    assert [k["kid"] for k in published["keys"]] == [current.kid, old.thumbprint()]
    claims = {"iss": "https://portal.example", "jti": "j2", "iat": 2, "events": {}}
    with app.app_context():
        token = push.sign(claims)
    assert jwt.decode(token, KeySet.import_key_set(published)).header["kid"] == current.kid
    # A SET the old key signed before the rotation still verifies against the JWKS.
    before = jwt.encode(
        {"alg": "RS256", "kid": old.thumbprint(), "typ": "secevent+jwt"}, claims, old
    )
    assert _verify_both(before, published) == claims


def test_after_the_rotation_ends_the_old_key_is_no_longer_published(transmitting, app):
    published = app.test_client().get("/ssf/jwks.json").get_json()
    assert len(published["keys"]) == 1
