"""Replicas, the leases through which each one holds its share of the boards, and which
replica claimed each comment.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("replica_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("unit", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_leases_holder", "leases", ["holder"])
    with op.batch_alter_table("sent") as batch:
        batch.add_column(sa.Column("owner", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("sent") as batch:
        batch.drop_column("owner")
    op.drop_index("ix_leases_holder", "leases")
    op.drop_table("leases")
    op.drop_table("replicas")
