"""Incident-card links in a table of their own, apart from the comments' claims.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PREFIX = "incident-card:"


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("card_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("comment_id", sa.String(64)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(128)),
    )
    op.create_index("ix_links_card_id", "links", ["card_id"])
    start = len(PREFIX) + 1
    op.execute(
        "INSERT INTO links (key, card_id, state, comment_id, at, owner) "
        f"SELECT substr(key, {start}), card_id, state, comment_id, at, owner FROM sent "
        f"WHERE key LIKE '{PREFIX}%'"
    )
    op.execute(f"DELETE FROM sent WHERE key LIKE '{PREFIX}%'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO sent (key, card_id, state, comment_id, at, owner) "
        f"SELECT '{PREFIX}' || key, card_id, state, comment_id, at, owner FROM links"
    )
    op.drop_index("ix_links_card_id", "links")
    op.drop_table("links")
