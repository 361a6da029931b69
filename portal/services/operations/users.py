"""A user's account: local permission grants, deactivation, and provisioning by the
identity provider (SCIM)."""

from __future__ import annotations

from ...models import User, utcnow
from ..audit.record import Actions
from ..outbox import signals
from ..users import identity, provisioning
from .actor import Actor

# The ways the identity provider itself asks: what it asked for is not told back to it (nor to
# receivers' streams, which it may be one of).
IDP_CHANNELS = ("scim", "ssf")


def grant_permission(actor: Actor, user: User, permission: str) -> bool:
    """Give ``user`` a local grant of ``permission``; False when they already had it."""
    if not identity.grant(user, permission, granted_by=actor.label):
        return False
    actor.record(Actions.GRANT_PERMISSION, user, permission=permission)
    return True


def revoke_permission(actor: Actor, user: User, permission: str) -> bool:
    """Take a local grant away; False when there was none."""
    if not identity.revoke_grant(user, permission):
        return False
    actor.record(Actions.REVOKE_PERMISSION, user, permission=permission)
    return True


def scim_actor(ip_address: str | None) -> Actor:
    """The identity provider's SCIM client, as the audit log names it."""
    return Actor(None, None, ip_address, via="scim", label="SCIM")


def deactivate_user(actor: Actor, user: User) -> int | None:
    """Deactivate the account: every session, IdP token and personal token ends now, and no
    sign-in or token works until it is reactivated. Returns how many sessions ended; None
    when it was already deactivated (nothing is recorded then). The IdP is told of the ended
    sessions, and receivers' streams of the deactivation (RISC account-disabled), unless it
    asked for this itself (``IDP_CHANNELS``)."""
    told = actor.via not in IDP_CHANNELS
    now = utcnow()
    ended = provisioning.deactivate(user, by=actor.user, now=now, tell_idp=told)
    if ended is None:
        return None
    if told:
        signals.account_disabled(user.id, now)
    actor.record(Actions.DEACTIVATE_USER, user, via=actor.via, sessions_ended=ended)
    return ended


def reactivate_user(actor: Actor, user: User) -> bool:
    """Allow the account to sign in again; False when it was not deactivated. Receivers'
    streams are told (RISC account-enabled) unless the IdP asked for it."""
    now = utcnow()
    if not provisioning.reactivate(user, now):
        return False
    if actor.via not in IDP_CHANNELS:
        signals.account_enabled(user.id, now)
    actor.record(Actions.REACTIVATE_USER, user, via=actor.via)
    return True


def _set_active(actor: Actor, user: User, active: bool) -> None:
    if active:
        reactivate_user(actor, user)
    else:
        deactivate_user(actor, user)


def scim_provision_user(actor: Actor, fields: provisioning.Provisioned) -> User:
    """SCIM POST: a user the IdP provisions (a new row, one who signed in before, or one SCIM
    deleted); their first sign-in links to it. Raises ``users.provisioning.InvalidProvisioning`` or
    ``users.provisioning.UserNameTaken``."""
    user, new, changed = provisioning.provision(fields)
    actor.record(
        Actions.SCIM_PROVISION_USER,
        user,
        user_name=user.scim_user_name,
        external_id=user.scim_external_id,
        adopted=not new or None,
        changed=changed or None,
    )
    _set_active(actor, user, fields.active)
    return user


def scim_update_user(actor: Actor, user: User, fields: provisioning.Provisioned) -> User:
    """SCIM PUT or PATCH (the PATCH already applied): the user's attributes, and ``active``
    deactivating or reactivating the account."""
    changed = provisioning.replace(user, fields)
    if changed:
        actor.record(Actions.SCIM_UPDATE_USER, user, changed=changed)
    _set_active(actor, user, fields.active)
    return user


def scim_delete_user(actor: Actor, user: User) -> None:
    """SCIM DELETE: the account is deactivated and SCIM no longer sees it; the user and their
    history stay."""
    deactivate_user(actor, user)
    provisioning.hide(user)
    actor.record(Actions.SCIM_DELETE_USER, user, user_name=user.scim_user_name)
