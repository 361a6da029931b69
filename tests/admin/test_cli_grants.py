"""``flask --app wsgi portal grant | revoke-grant | grants``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.admin_helpers import audit_actions, make_user, user_id_of

from portal.extensions import db
from portal.models import Grant


@pytest.fixture
def runner(app):
    with app.app_context():
        make_user("carol", email="carol@example.test")
        db.session.commit()
    return app.test_cli_runner()


def _grants(app) -> list[tuple[str, str]]:
    with app.app_context():
        from portal.models import User

        return list(
            db.session.execute(
                select(User.email, Grant.permission).join(Grant, Grant.user_id == User.id)
            ).all()
        )


def test_grant_gives_a_permission_and_is_audited(app, runner):
    result = runner.invoke(args=["portal", "grant", "Carol@Example.test", "viewAuditLog"])
    assert result.exit_code == 0, result.output
    assert "granted viewAuditLog to carol@example.test" in result.output
    assert _grants(app) == [("carol@example.test", "viewAuditLog")]
    [event] = audit_actions(app, "grant_permission")
    assert event.target_user_id == user_id_of(app, "carol")
    assert event.actor_id is None and event.actor_label.startswith("cli")
    assert event.detail == {"permission": "viewAuditLog"}


def test_granting_twice_changes_nothing(app, runner):
    runner.invoke(args=["portal", "grant", "carol@example.test", "viewAuditLog"])
    again = runner.invoke(args=["portal", "grant", "carol@example.test", "viewAuditLog"])
    assert again.exit_code == 0 and "already has" in again.output
    assert len(_grants(app)) == 1 and len(audit_actions(app, "grant_permission")) == 1


def test_revoke_grant_takes_it_away_and_is_audited(app, runner):
    runner.invoke(args=["portal", "grant", "carol@example.test", "viewUserDevices"])
    result = runner.invoke(args=["portal", "revoke-grant", "carol@example.test", "viewUserDevices"])
    assert result.exit_code == 0 and "revoked" in result.output
    assert _grants(app) == []
    [event] = audit_actions(app, "revoke_permission")
    assert event.detail == {"permission": "viewUserDevices"}


def test_revoking_a_grant_that_is_not_there_says_so(app, runner):
    result = runner.invoke(args=["portal", "revoke-grant", "carol@example.test", "viewAuditLog"])
    assert result.exit_code == 0 and "has no local grant" in result.output
    assert audit_actions(app, "revoke_permission") == []


@pytest.mark.parametrize("command", ["grant", "revoke-grant"])
def test_unknown_email_is_a_clear_error_with_status_1_and_no_change(app, runner, command):
    result = runner.invoke(args=["portal", command, "nobody@example.test", "viewAuditLog"])
    assert result.exit_code == 1
    assert "no user with email 'nobody@example.test'" in result.output
    assert _grants(app) == [] and audit_actions(app) == []


@pytest.mark.parametrize("command", ["grant", "revoke-grant"])
def test_unknown_permission_is_a_clear_error_with_status_1_and_no_change(app, runner, command):
    result = runner.invoke(args=["portal", command, "carol@example.test", "beGod"])
    assert result.exit_code == 1
    assert "unknown permission 'beGod'" in result.output
    assert "viewUserDevices, manageUserDevices, viewAuditLog" in result.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Grant)).scalar_one() == 0


def test_grants_lists_every_local_grant(app, runner):
    with app.app_context():
        make_user("erin", email="erin@example.test")
        db.session.commit()
    runner.invoke(args=["portal", "grant", "erin@example.test", "viewAuditLog"])
    runner.invoke(args=["portal", "grant", "carol@example.test", "manageUserDevices"])
    result = runner.invoke(args=["portal", "grants"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["carol@example.test", "manageUserDevices"],
        ["erin@example.test", "viewAuditLog"],
    ]


def test_grants_for_one_user_shows_their_grants_and_effective_permissions(app, auth, runner):
    auth.new_client("viewer")  # helpdesk group -> viewUserDevices
    runner.invoke(args=["portal", "grant", "viewer@example.test", "viewAuditLog"])
    result = runner.invoke(args=["portal", "grants", "viewer@example.test"])
    assert result.exit_code == 0
    assert "viewer@example.test\tviewAuditLog" in result.output
    assert "effective (groups at last sign-in + grants): viewAuditLog, viewUserDevices" in (
        result.output
    )
    missing = runner.invoke(args=["portal", "grants", "nobody@example.test"])
    assert missing.exit_code == 1


def test_no_grants_at_all(runner):
    result = runner.invoke(args=["portal", "grants"])
    assert result.exit_code == 0 and "no local grants" in result.output


def test_an_email_shared_by_two_users_is_refused(app, runner):
    with app.app_context():
        from portal.models import User

        db.session.add(
            User(issuer="https://other-idp.test", subject="c2", email="carol@example.test")
        )
        db.session.commit()
    result = runner.invoke(args=["portal", "grant", "carol@example.test", "viewAuditLog"])
    assert result.exit_code == 1 and "more than one user" in result.output
    assert _grants(app) == []
