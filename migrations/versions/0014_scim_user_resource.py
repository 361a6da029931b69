"""SCIM keeps the User resource it was sent, and two users SCIM sees never share an email or
an externalId.

``scim_resource`` holds the attributes the portal has no column for (RFC 7643 4.1 and the
enterprise extension), ``scim_email`` the email SCIM gave. Both are filled by the next SCIM
write of each user; until then a user is shown from its columns, as before. ``scim_email`` is
backfilled from ``email`` for the users SCIM sees, the oldest keeping an address several of
them had (the others get theirs on their next SCIM write, or a 409 if it is still taken).

Two users SCIM sees that share an externalId stop the upgrade, naming them: which of them the
IdP means is for a person to decide (fix or delete one of them over SCIM, then upgrade again).

Revision ID: 0014_scim_user_resource
Revises: 0013_user_search_deletes
Create Date: 2026-12-06 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_scim_user_resource"
down_revision = "0013_user_search_deletes"
branch_labels = None
depends_on = None

VISIBLE = "scim_user_name_key IS NOT NULL AND scim_deleted_at IS NULL"


def upgrade():
    # Plain ADD COLUMN on both databases (no batch: rebuilding the SQLite table would drop the
    # user search's triggers).
    op.add_column("users", sa.Column("scim_email", sa.String(length=320), nullable=True))
    op.add_column("users", sa.Column("scim_resource", sa.JSON(), nullable=True))
    bind = op.get_bind()
    shared = bind.execute(
        sa.text(
            f"SELECT scim_external_id, count(*) FROM users WHERE {VISIBLE} "
            "AND scim_external_id IS NOT NULL GROUP BY scim_external_id HAVING count(*) > 1"
        )
    ).all()
    if shared:
        names = ", ".join(repr(row[0]) for row in shared[:10])
        raise RuntimeError(
            f"Several SCIM users share the externalId {names}: change or delete all but one "
            "over SCIM, then upgrade again"
        )
    rows = bind.execute(
        sa.text(
            f"SELECT id, email FROM users WHERE {VISIBLE} AND email IS NOT NULL "
            "ORDER BY created_at, id"
        )
    ).all()
    seen: set[str] = set()
    users = sa.table("users", sa.column("id"), sa.column("scim_email"))
    for user_id, email in rows:
        if email in seen:
            continue
        seen.add(email)
        bind.execute(sa.update(users).where(users.c.id == user_id).values(scim_email=email))
    for name, column in (
        ("uq_users_scim_external_id", "scim_external_id"),
        ("uq_users_scim_email", "scim_email"),
    ):
        op.create_index(
            name,
            "users",
            [column],
            unique=True,
            sqlite_where=sa.text(VISIBLE),
            postgresql_where=sa.text(VISIBLE),
        )


def downgrade():
    op.drop_index("uq_users_scim_email", table_name="users")
    op.drop_index("uq_users_scim_external_id", table_name="users")
    op.drop_column("users", "scim_resource")
    op.drop_column("users", "scim_email")
