"""Personal API tokens: made, used from a new address, revoked."""

from __future__ import annotations

from ...models import PersonalToken, utcnow
from .. import common, tokens
from ..audit.record import Actions
from ..errors import NotFound
from ..sessions import ending, opening
from .actor import TOKEN_NOT_FOUND, Actor, account_of, on_behalf, others_reason


def create_personal_token(
    actor: Actor, *, name: str, scopes: list[str], days: int, may_read_audit: bool
) -> tuple[PersonalToken, str]:
    """Make a personal token for the actor (raises ``tokens.InvalidTokenRequest``, or
    ``tokens.TokenNameTaken`` when one of their tokens that still works has this name);
    returns it and its secret, which is shown once and never stored."""
    tokens.check_request(name, scopes, days, may_read_audit)
    user = actor.user
    assert user is not None  # a signed-in user makes their own tokens
    now = utcnow()
    common.lock_account(user.id)
    tokens.claim_name(user.id, name, now)
    token, secret = tokens.create(user, name=name, scopes=scopes, days=days, now=now)
    actor.record(
        Actions.PERSONAL_TOKEN_CREATED,
        actor.user,
        device_id=token.session.device_id,
        session_id=token.session_id,
        token_id=str(token.id),
        name=token.name,
        scopes=token.scopes,
        expires_at=token.expires_at.isoformat(),
    )
    return token, secret


def note_personal_token_use(
    token: PersonalToken, client: opening.ClientInfo, geoip_database: str | None
) -> None:
    """A request came with this token: remember when and from where, and audit the first use
    from each new address."""
    if tokens.note_use(token, client, geoip_database):
        session = token.session
        Actor(session.user, session, client.ip_address, via="api").record(
            Actions.PERSONAL_TOKEN_NEW_ADDRESS,
            token.user_id,
            device_id=session.device_id,
            session_id=session.id,
            token_id=str(token.id),
            name=token.name,
            user_agent=token.last_used_user_agent,
        )


def revoke_personal_token(actor: Actor, token_id: str) -> tuple[PersonalToken, bool]:
    """End one of the actor's tokens (its session); returns it, and True when it worked until
    now."""
    token = tokens.lock_token_of_user(account_of(actor, None), token_id)
    if token is None:
        raise NotFound(TOKEN_NOT_FOUND)
    session = token.session
    ended = ending.end_session(session, others_reason(actor, token.user_id), by=actor.user)
    actor.record(
        Actions.PERSONAL_TOKEN_REVOKED,
        token.user_id,
        device_id=session.device_id,
        session_id=session.id,
        token_id=str(token.id),
        name=token.name,
        **on_behalf(actor, token.user_id, int(ended)),
    )
    return token, ended
