"""Deactivated users, and users provisioned over SCIM before their first sign-in.

A provisioned user has no (issuer, subject) until that sign-in links them, so both columns
become nullable (the unique key still holds for every linked user: NULLs never collide). On
SQLite that rebuilds the users table, which drops its triggers: the user search's three are
made again, as 0005 made them.

Revision ID: 0010_deactivation_and_scim
Revises: 0009_outbox_and_alerts
Create Date: 2026-12-04 18:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_deactivation_and_scim"
down_revision = "0009_outbox_and_alerts"
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    ("deactivated_at", sa.DateTime(timezone=True)),
    ("scim_user_name", sa.String(320)),
    ("scim_user_name_key", sa.String(320)),
    ("scim_external_id", sa.String(255)),
    ("scim_modified_at", sa.DateTime(timezone=True)),
    ("scim_deleted_at", sa.DateTime(timezone=True)),
)

SEARCH_TRIGGERS = (
    "CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN "
    "INSERT INTO users_search (user_id, email, name, subject) "
    "VALUES (new.id, new.email, new.name, new.subject); END",
    "CREATE TRIGGER users_search_update AFTER UPDATE OF email, name, subject ON users BEGIN "
    "DELETE FROM users_search WHERE user_id = old.id; "
    "INSERT INTO users_search (user_id, email, name, subject) "
    "VALUES (new.id, new.email, new.name, new.subject); END",
    "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN "
    "DELETE FROM users_search WHERE user_id = old.id; END",
)


def _drop_search_triggers():
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS users_search_{trigger}")


def _make_search_triggers():
    if op.get_bind().dialect.name == "sqlite":
        for statement in SEARCH_TRIGGERS:
            op.execute(statement)


def upgrade():
    _drop_search_triggers()
    with op.batch_alter_table("users") as batch:
        for name, type_ in NEW_COLUMNS:
            batch.add_column(sa.Column(name, type_))
        batch.alter_column("issuer", existing_type=sa.String(255), nullable=True)
        batch.alter_column("subject", existing_type=sa.String(255), nullable=True)
        batch.create_index("ix_users_scim_user_name_key", ["scim_user_name_key"], unique=True)
        batch.create_index("ix_users_scim_external_id", ["scim_external_id"], unique=False)
    _make_search_triggers()


def downgrade():
    # Users provisioned over SCIM who never signed in have no identity to keep.
    op.execute("DELETE FROM users WHERE issuer IS NULL OR subject IS NULL")
    _drop_search_triggers()
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_scim_external_id")
        batch.drop_index("ix_users_scim_user_name_key")
        batch.alter_column("subject", existing_type=sa.String(255), nullable=False)
        batch.alter_column("issuer", existing_type=sa.String(255), nullable=False)
        for name, _ in reversed(NEW_COLUMNS):
            batch.drop_column(name)
    _make_search_triggers()
