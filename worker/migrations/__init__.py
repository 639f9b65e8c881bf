"""The database schema's history, as Alembic revisions (see `worker.store.schema`)."""
