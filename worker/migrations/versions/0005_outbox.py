"""The outbox: messages to people's channels, each sent once from here, retried with back-off.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("message", sa.String(255), nullable=False),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("channel", sa.Integer, nullable=False),
        sa.Column("scheme", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outbox_message", "outbox", ["message"])
    op.create_index("ix_outbox_next_at", "outbox", ["next_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_next_at", "outbox")
    op.drop_index("ix_outbox_message", "outbox")
    op.drop_table("outbox")
