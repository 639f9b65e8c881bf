"""The first schema: incidents, feed cursors, comments sent, actions handled, template cards.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("card_id", sa.String(64), primary_key=True),
        sa.Column("board_id", sa.String(64), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_incidents_board_id", "incidents", ["board_id"])
    op.create_index("ix_incidents_open", "incidents", ["open"])
    op.create_table(
        "cursors",
        sa.Column("board_id", sa.String(64), primary_key=True),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("action_date", sa.String(40), nullable=False),
    )
    op.create_table(
        "sent",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("comment_id", sa.String(64)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sent_card_id", "sent", ["card_id"])
    op.create_table(
        "handled",
        sa.Column("action_id", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handled_at", "handled", ["at"])
    op.create_table(
        "template_cards",
        sa.Column("board_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("checklists", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("template_cards", "handled", "sent", "cursors", "incidents"):
        op.drop_table(table)
