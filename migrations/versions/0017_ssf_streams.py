"""Shared Signals streams that receivers manage themselves (issue 31): ``ssf_streams``, the
subjects a receiver removed from one (``ssf_stream_subjects``), and an index on the outbox by
recipient and status, since a stream's events (``recipient`` is the stream id) are held,
released, dropped and polled by stream.

Revision ID: 0017_ssf_streams
Revises: 0016_token_names
Create Date: 2026-12-06 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_ssf_streams"
down_revision = "0016_token_names"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ssf_streams",
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("delivery_method", sa.String(length=64), nullable=False),
        sa.Column("endpoint_url", sa.String(length=2048), nullable=True),
        sa.Column("authorization_header", sa.Text(), nullable=True),
        sa.Column("events_requested", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("min_verification_interval", sa.Integer(), nullable=False),
        sa.Column("last_verification_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_format", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("stream_id"),
    )
    op.create_index("ix_ssf_streams_client_id", "ssf_streams", ["client_id"])
    op.create_table(
        "ssf_stream_subjects",
        sa.Column("stream_id", sa.String(length=36), nullable=False),
        sa.Column("subject_key", sa.String(length=1024), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["stream_id"], ["ssf_streams.stream_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("stream_id", "subject_key"),
    )
    op.create_index("ix_ssf_stream_subjects_user_id", "ssf_stream_subjects", ["user_id"])
    op.create_index(
        "ix_outbox_messages_recipient_status", "outbox_messages", ["recipient", "status"]
    )


def downgrade():
    op.drop_index("ix_outbox_messages_recipient_status", table_name="outbox_messages")
    op.drop_index("ix_ssf_stream_subjects_user_id", table_name="ssf_stream_subjects")
    op.drop_table("ssf_stream_subjects")
    op.drop_index("ix_ssf_streams_client_id", table_name="ssf_streams")
    op.drop_table("ssf_streams")
