"""The worker's memory: SQLAlchemy over a SQLite file by default, PostgreSQL by URL.

`Store` owns the connection, the schema's readiness (see `worker.store.schema`) and the one
clock every record is stamped with; what is kept is split by concern, each an object of its
own on the store:

- `incidents`, `cursors`, `handled`, `template_cards` (`worker.store.records`);
- `claims` (the comments posted) and `links` (the incident cards made for labelled cards),
  each key done once (`worker.store.claims`);
- `replicas` and their leases (`worker.store.replicas`);
- `budget`: Trello's request budget, claimed by replicas a request at a time
  (`worker.store.budget`).

The tables are in `worker.store.tables`. Each method is one short transaction.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool, StaticPool

from worker.errors import AlreadyRunning, ConfigError, DatabaseUnavailable
from worker.store import schema
from worker.store.base import Replica, aware
from worker.store.budget import Budget
from worker.store.claims import Claims
from worker.store.outbox import Outbox
from worker.store.records import (
    Cursors,
    Handled,
    Identity,
    Incidents,
    TemplateCard,
    TemplateCardRows,
)
from worker.store.replicas import Lease, LeaseView, Replicas
from worker.store.tables import links, metadata, sent

__all__ = ["Lease", "LeaseView", "Replica", "Store", "TemplateCard", "metadata", "shown_url"]


class Store:
    """All the worker's reads and writes of its database, each one short transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        replica: Replica | None = None,
        path: Path | None = None,
        created: bool = False,
        clock: Callable[[], datetime] | None = None,
    ):
        self.engine = engine
        #: the replica this store works for: its claims and leases carry it
        self.replica = replica or Replica.new()
        #: the SQLite file, if the database is one
        self.path = path
        #: True when the database holds nothing of a worker yet (first run, or it was lost)
        self.created = created
        #: the time every record is stamped with, for tests; the database's own clock otherwise
        self.clock = clock
        self._lock: TextIO | None = None
        self.incidents = Incidents(self)
        self.cursors = Cursors(self)
        self.handled = Handled(self)
        self.template_cards = TemplateCardRows(self)
        self.claims = Claims(self, sent)
        self.links = Claims(self, links)
        self.replicas = Replicas(self)
        self.identity = Identity(self)
        self.outbox = Outbox(self)
        self.budget = Budget(self)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        replica: Replica | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Store:
        """The database at `url`, its schema as it is; errors name INCIDENT_DATABASE_URL."""
        file: Path | None = None
        try:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1] if "///" in url else ""
                if path and path != ":memory:":
                    file = Path(path)
                    file.parent.mkdir(parents=True, exist_ok=True)
                    # readable by its owner only; SQLite gives its -wal and -shm files the same
                    os.close(os.open(file, os.O_CREAT | os.O_RDWR, 0o600))
                    os.chmod(file, 0o600)  # one made before, or by hand, is tightened too
                    engine = create_engine(url, poolclass=NullPool)
                else:  # in memory: one connection, or every connection is a new empty database
                    engine = create_engine(
                        url, poolclass=StaticPool, connect_args={"check_same_thread": False}
                    )
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
            with engine.connect():
                pass
        except (SQLAlchemyError, OSError, ValueError, ImportError) as exc:
            raise ConfigError(
                f"INCIDENT_DATABASE_URL cannot be opened ({type(exc).__name__}: "
                f"{_first_line(exc)})."
            ) from None
        return cls(engine, replica=replica, path=file, clock=clock)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        replica: Replica | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Store:
        """The database at `url`, ready for the worker.

        A SQLite file is created and brought to the current schema as needed (the worker is its
        only user). A PostgreSQL database must be at the current schema already: if it is not,
        the error says to run `incident-worker migrate`.
        """
        store = cls.connect(url, replica=replica, clock=clock)
        try:
            store._ready_schema(url)
        except BaseException:
            store.close()
            raise
        return store

    def _ready_schema(self, url: str) -> None:
        shown = shown_url(url)
        try:
            found = schema.revision(self.engine)
            if not found.known:
                raise ConfigError(
                    f"The database at INCIDENT_DATABASE_URL ({shown}) is at schema revision "
                    f"{found.current}, which this worker does not know (it knows up to "
                    f"{found.head}): run the newer worker, or a database of this one's own."
                )
            if self.engine.dialect.name == "sqlite":
                self.created = found.current is None
                if found.behind:
                    schema.upgrade(self.engine)
                return
            if found.behind:
                where = f"at schema revision {found.current}" if found.current else "empty"
                raise ConfigError(
                    f"The database at INCIDENT_DATABASE_URL ({shown}) is {where} and this worker "
                    f"needs revision {found.head}: run `incident-worker migrate` first."
                )
            self.created = not self.cursors.any()
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"INCIDENT_DATABASE_URL ({shown}) cannot be read ({type(exc).__name__}: "
                f"{_first_line(exc)})."
            ) from None

    def lock(self) -> None:
        """Claim the SQLite file for this process: one worker per file.

        Raises `AlreadyRunning` naming the process that holds it. The claim is an advisory
        lock on `<file>.lock`, released when the process ends however it ends (SIGKILL too).
        Read-only commands (`status`, `report`, `check`) do not claim it.
        """
        if self.path is None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600), "r+")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"Another worker ({holder}) is using {self.path}: stop it first, or give this "
                "one its own INCIDENT_DATABASE_URL."
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {started}")
        handle.flush()
        self._lock = handle

    def close(self) -> None:
        self.engine.dispose()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            if exc.connection_invalidated or self.engine.dialect.name != "sqlite":
                shown = self.engine.url.render_as_string(hide_password=True)
                raise DatabaseUnavailable(
                    f"The database (INCIDENT_DATABASE_URL, {shown}) cannot be reached: "
                    f"{_first_line(exc.orig or exc)}"
                ) from None
            raise

    def now(self, conn: Connection) -> datetime:
        """The one clock of every record: the injected one, else the database's on PostgreSQL
        (shared by replicas whatever their own clocks say), else this machine's for SQLite."""
        if self.clock is not None:
            return self.clock()
        if conn.dialect.name == "postgresql":
            return aware(conn.execute(select(func.now())).scalar_one())
        return datetime.now(UTC)

    @property
    def shared(self) -> bool:
        """Whether replicas may share this database (a SQLite file has one worker: see `lock`)."""
        return self.engine.dialect.name != "sqlite"


def shown_url(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
