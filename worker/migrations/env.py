"""Alembic's environment: runs the revisions on the connection `worker.store.schema` hands over.

To add a revision, write `versions/NNNN_what.py` by hand (its `down_revision` is the current
head), change the tables in `worker.store.database` to match, and run the store's tests: one of them
compares the migrated schema with the tables, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

#: Taken while migrating PostgreSQL, so two `migrate` runs at once apply each revision once.
MIGRATION_LOCK = 7_239_061_402

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.run_migrations()
