"""A version of each user's device set, for the polled lists' ETags.

``users.device_set_version`` moves in the transaction of every change to what
``GET /devices``, ``GET /sessions`` and ``GET /devices/users/{userId}`` show of that user
(``portal.services.device_sets``); existing users start at 0.

Added and dropped in place (SQLite has both since 3.35): rebuilding the users table on SQLite
would drop the user search's triggers.

Revision ID: 0012_device_set_version
Revises: 0011_sign_in_search
Create Date: 2026-12-04 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_device_set_version"
down_revision = "0011_sign_in_search"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users",
        sa.Column("device_set_version", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    op.execute("ALTER TABLE users DROP COLUMN device_set_version")
