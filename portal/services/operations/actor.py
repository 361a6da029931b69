"""Who acts (``Actor``), and the checks every operation makes of them: whose account an
action changes, and the device or session it locks there (another user's is not found)."""

from __future__ import annotations

import uuid
from typing import Any

from ...config import PERMISSIONS
from ...models import Device, EndReason, User, UserSession
from ..audit import record as audit
from ..devices import changes
from ..errors import Forbidden, NotFound
from ..sessions import policy

_, MANAGE_USER_DEVICES, _ = PERMISSIONS

DEVICE_NOT_FOUND = "Device not found"
SESSION_NOT_FOUND = "Session not found"
TOKEN_NOT_FOUND = "Token not found"


class Actor:
    """Who acts, through which session, from which address, and how.

    ``via`` is ``page``, ``api``, ``cli``, ``idp`` or ``scim``; ``label`` names an actor that
    is not a user (the operating-system account of a CLI run, the identity provider, SCIM).
    An actor made from a request's caller (``caller``: anything with ``user_id``, ``name``,
    ``user`` and ``session``) loads the user and session models only when an operation needs
    them; the audit event needs only the id and the name.
    """

    def __init__(
        self,
        user: User | None,
        session: UserSession | None = None,
        ip_address: str | None = None,
        via: str = "page",
        label: str | None = None,
        *,
        caller: Any = None,
    ):
        self._user = user
        self._session = session
        self.ip_address = ip_address
        self.via = via
        self.label = label
        self._caller = caller

    @property
    def user(self) -> User | None:
        return self._caller.user if self._caller is not None else self._user

    @property
    def session(self) -> UserSession | None:
        return self._caller.session if self._caller is not None else self._session

    @property
    def user_id(self) -> uuid.UUID | None:
        if self._caller is not None:
            return self._caller.user_id
        return self._user.id if self._user is not None else None

    @property
    def session_id(self) -> uuid.UUID | None:
        if self._caller is not None:
            return self._caller.session_id
        return self._session.id if self._session else None

    @property
    def name(self) -> str | None:
        """What the audit log calls the actor."""
        if self.label:
            return self.label
        if self._caller is not None:
            return self._caller.name
        return (self._user.email or self._user.subject) if self._user is not None else None

    def may(self, permission: str) -> bool:
        """Whether the actor holds ``permission``: a request's caller as granted to them; the
        CLI, the identity provider and SCIM (actors with a label) act for the operator."""
        if self._caller is not None:
            return self._caller.can(permission)
        return self.label is not None

    def owns(self, user_id: uuid.UUID) -> bool:
        """Whether ``user_id`` is the actor's own account."""
        return self.user_id is not None and self.user_id == user_id

    def record(self, action: str, target_user: User | uuid.UUID | None, **detail: Any) -> None:
        caller = self._caller
        audit.record(
            action,
            actor=self._user if caller is None else None,
            actor_id=caller.user_id if caller is not None else None,
            actor_label=self.label or (caller.name if caller is not None else None),
            target_user=target_user,
            ip_address=self.ip_address,
            channel=self.via,
            **detail,
        )


def others_reason(actor: Actor, user_id: uuid.UUID) -> EndReason:
    """How sessions end that the actor ends and did not sign out of themselves."""
    return EndReason.REVOKED if actor.owns(user_id) else EndReason.REVOKED_BY_ADMIN


def on_behalf(actor: Actor, user_id: uuid.UUID, ended: int) -> dict[str, Any]:
    return {"via": actor.via, "ended": ended} if not actor.owns(user_id) else {}


def account_of(actor: Actor, user_id: uuid.UUID | None) -> uuid.UUID:
    """Whose devices and sessions an action changes: the actor's own, or ``user_id``'s when
    the actor may manage other users' devices."""
    if user_id is None or actor.owns(user_id):
        if actor.user_id is None:
            raise NotFound()
        return actor.user_id
    if not actor.may(MANAGE_USER_DEVICES):
        raise Forbidden("Managing another user's devices needs the manageUserDevices permission")
    return user_id


def locked_device(
    actor: Actor, device_id: str | uuid.UUID, user_id: uuid.UUID | None = None, **options: Any
) -> Device:
    """The account's device, locked until commit (``devices.changes.lock_device``); NotFound when it
    is not one of that account's devices (whether it exists elsewhere or not)."""
    found = changes.lock_device(account_of(actor, user_id), device_id, **options)
    if found is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return found


def locked_session(
    actor: Actor, session_id: str | uuid.UUID, user_id: uuid.UUID | None = None
) -> UserSession:
    """The account's *active* session, locked until commit; NotFound otherwise."""
    found = policy.lock_session_of_user(account_of(actor, user_id), session_id)
    if found is None:
        raise NotFound(SESSION_NOT_FOUND)
    return found
