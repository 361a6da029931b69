"""The signed tokens in an alert's links (itsdangerous): which alert, user, device, sign-in
and answer they stand for. Signing proves the portal made the link; the database decides
whether it may still be used (once, within 7 days: ``services.outbox.alerts.check_usable``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..models import AlertAnswer, SignInAlert
from ..services.outbox.alerts import LINK_LIFETIME

SALT = "device-portal.sign-in-alert"


class LinkExpired(Exception):
    """The link is older than its lifetime."""


class LinkInvalid(Exception):
    """The link was not made by this portal, or was changed."""


@dataclass(frozen=True)
class AlertLink:
    alert_id: str
    user_id: str
    device_id: str
    session_id: str | None
    answer: AlertAnswer


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make(alert: SignInAlert, answer: AlertAnswer) -> str:
    return _serializer().dumps(
        {
            "a": str(alert.id),
            "u": str(alert.user_id),
            "d": str(alert.device_id),
            "s": str(alert.session_id) if alert.session_id else None,
            "x": answer.value,
        }
    )


def read(token: str) -> AlertLink:
    """The link a token stands for; raises ``LinkExpired`` or ``LinkInvalid``."""
    try:
        data = _serializer().loads(token, max_age=int(LINK_LIFETIME.total_seconds()))
    except SignatureExpired:
        raise LinkExpired() from None
    except BadSignature:
        raise LinkInvalid() from None
    try:
        return AlertLink(
            str(data["a"]), str(data["u"]), str(data["d"]), data.get("s"), AlertAnswer(data["x"])
        )
    except (KeyError, TypeError, ValueError):
        raise LinkInvalid() from None
