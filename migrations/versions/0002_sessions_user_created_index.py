"""Index a user's sessions by start time, for sign-in history and investigation flags.

Revision ID: 0002_sessions_user_created
Revises: 7abb0f650b9d
Create Date: 2026-11-25 18:35:00
"""

from alembic import op

revision = "0002_sessions_user_created"
down_revision = "7abb0f650b9d"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_sessions_user_created", "sessions", ["user_id", "created_at"])


def downgrade():
    op.drop_index("ix_sessions_user_created", table_name="sessions")
