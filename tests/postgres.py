"""A real PostgreSQL server for the tests that need one: a fresh database per test.

The server is `POSTGRES_TEST_URL` (a SQLAlchemy URL of a database the tests may create others
from), by default the local server's `postgres` database. Where no server answers, the tests
that need it are skipped saying so; with `CI` set they fail instead, since CI has one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

SERVER = os.environ.get(
    "POSTGRES_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@cache
def unreachable() -> str | None:
    """Why the server cannot be used, or None when it can."""
    try:
        engine = create_engine(SERVER, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        shown = make_url(SERVER).render_as_string(hide_password=True)
        return f"no PostgreSQL server at {shown} (set POSTGRES_TEST_URL): {first}"
    return None


def skip_unless_ci(what: str, reason: str | None) -> None:
    """Skip the test saying `reason` (what it lacks), or fail it when `CI` is set: CI has
    everything `what` (the PostgreSQL tests, the browser tests) needs. None: nothing lacks."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run {what}, but there is {reason}")
    pytest.skip(reason)


def require() -> None:
    """Skip the test when there is no server; fail it when `CI` is set."""
    skip_unless_ci("the PostgreSQL tests", unreachable())


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the server, dropped after; its URL."""
    name = f"iw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(SERVER).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


#: The store's backends; tests parametrized over them run on both.
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def database(kind: str, folder: Path, *, migrated: bool = True) -> Iterator[str]:
    """A fresh database of `kind` (one of `BACKENDS`): a SQLite file in `folder`, or one on
    the PostgreSQL server, at the current schema unless `migrated` is False; its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{folder}/w.sqlite3"  # the worker migrates a SQLite file itself
        return
    require()
    with fresh_database() as url:
        if migrated:
            from worker.store import schema
            from worker.store.database import Store

            store = Store.connect(url)
            schema.upgrade(store.engine)
            store.close()
        yield url
