"""The database schema's revision: read, checked and brought up to date with Alembic.

The revisions live in `worker/migrations/versions`. `incident-worker migrate` applies them;
the worker applies them itself to a SQLite file (it is the file's only user), and refuses to
run on a PostgreSQL database that is behind, since replicas share it and one of them
changing the schema under the others would surprise them: there, migrating is the operator's
step. A database made before the revisions existed (its tables but no revision) is taken as
the first revision and brought up from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

logger = logging.getLogger(__name__)

#: The revision of a database that has the first schema's tables but no revision recorded.
BASELINE = "0001"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "worker:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this version of the worker knows."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None, "worker/migrations has no revision"
    return found


@dataclass(frozen=True)
class Revision:
    current: str | None  # None: no schema at all
    head: str

    @property
    def behind(self) -> bool:
        return self.current != self.head

    @property
    def known(self) -> bool:
        """Whether this worker knows the database's revision (a newer worker may have moved it)."""
        if self.current is None:
            return True
        script = ScriptDirectory.from_config(_config())
        return any(rev.revision == self.current for rev in script.walk_revisions())


def revision(engine: Engine) -> Revision:
    """Where the database's schema is, and where this worker wants it."""
    with engine.connect() as conn:
        return Revision(_current(conn), head())


def _current(conn: Connection) -> str | None:
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None and inspect(conn).has_table("incidents"):
        return BASELINE
    return current


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every revision the database lacks; (revision before, revision after)."""
    with engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and inspect(conn).has_table("incidents"):
            command.stamp(_config(conn), BASELINE)
            before = BASELINE
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
        after = MigrationContext.configure(conn).get_current_revision()
    assert after is not None
    if before != after:
        logger.info("database schema: %s -> %s", before or "(empty)", after)
    return before, after
