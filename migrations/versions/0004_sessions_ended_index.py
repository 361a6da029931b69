"""Index sessions by when they ended, for `flask portal prune`.

The prune finds open sessions (``ended_at IS NULL``) that are over and ended ones older than
the history it keeps (``ended_at < cutoff``) in batches; both are range reads of this index
instead of a scan of every session per batch.

Revision ID: 0004_sessions_ended
Revises: 0003_revocation
Create Date: 2026-11-26 23:30:00
"""

from alembic import op

revision = "0004_sessions_ended"
down_revision = "0003_revocation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_sessions_ended", "sessions", ["ended_at"])


def downgrade():
    op.drop_index("ix_sessions_ended", table_name="sessions")
