"""Follow-ups: which incidents still have one to be done (they outlive the incident).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("followups_open", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_incidents_followups_open", ["followups_open"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_followups_open")
        batch.drop_column("followups_open")
