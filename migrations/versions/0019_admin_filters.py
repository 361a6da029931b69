"""The audit log leaves out admins' looks at a user's devices unless asked (issue 32): its
default page and count read a partial index of the other events, newest first.

Revision ID: 0019_admin_filters
Revises: 0016_token_names
Create Date: 2026-12-06 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_admin_filters"
down_revision = "0018_ssf_received"
branch_labels = None
depends_on = None

_SHOWN = "action <> 'view_user_devices'"


def upgrade():
    op.create_index(
        "ix_audit_shown_occurred",
        "audit_events",
        ["occurred_at", "id"],
        postgresql_where=sa.text(_SHOWN),
        sqlite_where=sa.text(_SHOWN),
    )


def downgrade():
    op.drop_index("ix_audit_shown_occurred", table_name="audit_events")
