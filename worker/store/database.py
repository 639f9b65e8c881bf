"""The worker's memory: SQLAlchemy over a SQLite file by default, PostgreSQL by URL.

The schema's revisions are Alembic's (see `worker.store.schema`); the tables here are what the
queries use, and a test holds them equal to what the revisions make. Seven tables:

- `incidents`: one row per incident card, the `Incident` model as JSON plus the columns the
  loop queries by (board, open).
- `cursors`: per board, the newest action the worker has handled; the feed is read from there.
- `sent`: every comment the worker posts, by idempotency key. A key is written as `sending`
  before the comment goes out and as `sent` after; a key still `sending` after a crash means
  "maybe posted", and the runner looks for the comment's marker on the card before sending.
  The replica that claimed it is recorded: a claim of a live replica is its own business
  (it may be posting right now), and only a gone replica's claim is taken over.
- `handled`: the actions handled lately, by id, so that an action both delivered by a webhook
  and read from the feed is handled once.
- `template_cards`: per board, the archived card that holds the template's checklists, its
  template version and its checklists' ids by name.
- `replicas` and `leases`: the worker processes sharing the database, when each was last seen,
  and which one holds which board (see `worker.runtime.leases`). Lease times are the database's
  clock on PostgreSQL, so replicas on machines whose clocks differ still agree on them.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool, StaticPool

from worker.core.model import Incident
from worker.errors import AlreadyRunning, ConfigError, DatabaseUnavailable
from worker.store import schema

metadata = MetaData()

incidents = Table(
    "incidents",
    metadata,
    Column("card_id", String(64), primary_key=True),
    Column("board_id", String(64), nullable=False, index=True),
    Column("open", Boolean, nullable=False, index=True),
    Column("state", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

cursors = Table(
    "cursors",
    metadata,
    Column("board_id", String(64), primary_key=True),
    Column("action_id", String(64), nullable=False),
    Column("action_date", String(40), nullable=False),
)

sent = Table(
    "sent",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("card_id", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("comment_id", String(64)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("owner", String(128)),
)

handled = Table(
    "handled",
    metadata,
    Column("action_id", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

template_cards = Table(
    "template_cards",
    metadata,
    Column("board_id", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("card_id", String(64), nullable=False),
    Column("checklists", Text, nullable=False),
)

replicas = Table(
    "replicas",
    metadata,
    Column("replica_id", String(128), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("unit", String(128), primary_key=True),
    Column("holder", String(128), nullable=False, index=True),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TemplateCard:
    board_id: str
    version: str
    card_id: str
    checklists: dict[str, str]


@dataclass(frozen=True)
class Lease:
    """Who holds what, as `status` shows it."""

    unit: str
    holder: str
    holder_name: str  # "" when the holder is gone from the replicas table
    since: datetime
    expires_at: datetime
    live: bool  # not expired


@dataclass(frozen=True)
class LeaseView:
    """What a replica needs to decide its share: who is alive, who holds what."""

    live: tuple[str, ...]  # replica ids seen within the lease time, sorted
    holders: dict[str, str]  # unit -> holder, for the leases not expired


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite gives its times back without a zone; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Store:
    """All the worker's reads and writes of its database, each one short transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        path: Path | None = None,
        created: bool = False,
        clock: Callable[[], datetime] | None = None,
    ):
        self.engine = engine
        #: the SQLite file, if the database is one
        self.path = path
        #: True when the database holds nothing of a worker yet (first run, or it was lost)
        self.created = created
        #: the time leases are measured by, for tests; the database's own clock otherwise
        self.clock = clock
        #: the replica this store works for (its claims carry it), and its lease time
        self.replica = ""
        self.lease_seconds = 30.0
        self._lock: TextIO | None = None

    @classmethod
    def connect(cls, url: str) -> Store:
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
        return cls(engine, path=file)

    @classmethod
    def open(cls, url: str) -> Store:
        """The database at `url`, ready for the worker.

        A SQLite file is created and brought to the current schema as needed (the worker is its
        only user). A PostgreSQL database must be at the current schema already: if it is not,
        the error says to run `incident-worker migrate`.
        """
        store = cls.connect(url)
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
            with self._tx() as conn:
                self.created = conn.execute(select(cursors.c.board_id).limit(1)).first() is None
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
    def _tx(self) -> Iterator[Connection]:
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

    def _now(self, conn: Connection) -> datetime:
        """The time leases are measured by: the database's on PostgreSQL, shared by replicas."""
        if self.clock is not None:
            return self.clock()
        if conn.dialect.name == "postgresql":
            return _aware(conn.execute(select(func.now())).scalar_one())
        return _utcnow()

    # -- incidents -------------------------------------------------------------------------

    def incident(self, card_id: str) -> Incident | None:
        with self._tx() as conn:
            row = conn.execute(
                select(incidents.c.state).where(incidents.c.card_id == card_id)
            ).first()
        return Incident.model_validate_json(row[0]) if row else None

    def open_incidents(self, board_id: str | None = None) -> list[Incident]:
        query = select(incidents.c.state).where(incidents.c.open.is_(True))
        if board_id is not None:
            query = query.where(incidents.c.board_id == board_id)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(incidents.c.card_id)).all()
        return [Incident.model_validate_json(row[0]) for row in rows]

    def all_incidents(self) -> list[Incident]:
        with self._tx() as conn:
            rows = conn.execute(select(incidents.c.state).order_by(incidents.c.card_id)).all()
        return [Incident.model_validate_json(row[0]) for row in rows]

    def save(self, incident: Incident) -> None:
        values = {
            "board_id": incident.board_id,
            "open": incident.open,
            "state": incident.model_dump_json(),
            "updated_at": _utcnow(),
        }
        with self._tx() as conn:
            done = conn.execute(
                incidents.update().where(incidents.c.card_id == incident.card_id).values(values)
            )
            if done.rowcount == 0:
                conn.execute(incidents.insert().values(card_id=incident.card_id, **values))

    # -- the feed cursor ------------------------------------------------------------------------

    def cursor(self, board_id: str) -> tuple[str, str] | None:
        """(action id, action date) of the newest handled action on the board."""
        with self._tx() as conn:
            row = conn.execute(
                select(cursors.c.action_id, cursors.c.action_date).where(
                    cursors.c.board_id == board_id
                )
            ).first()
        return (row[0], row[1]) if row else None

    def set_cursor(self, board_id: str, action_id: str, action_date: str) -> None:
        with self._tx() as conn:
            done = conn.execute(
                cursors.update()
                .where(cursors.c.board_id == board_id)
                .values(action_id=action_id, action_date=action_date)
            )
            if done.rowcount == 0:
                conn.execute(
                    cursors.insert().values(
                        board_id=board_id, action_id=action_id, action_date=action_date
                    )
                )

    # -- comments sent ------------------------------------------------------------------------

    def send_state(self, key: str) -> str | None:
        """`sending`, `sent`, or None when the key was never used."""
        with self._tx() as conn:
            row = conn.execute(select(sent.c.state).where(sent.c.key == key)).first()
        return row[0] if row else None

    def claim(self, key: str, card_id: str) -> bool:
        """Record that `key` is about to be sent; False if it already was claimed."""
        try:
            with self._tx() as conn:
                conn.execute(
                    sent.insert().values(
                        key=key, card_id=card_id, state="sending", at=_utcnow(), owner=self.replica
                    )
                )
        except IntegrityError:
            return False
        return True

    def take_over(self, key: str) -> bool:
        """Make a `sending` claim this replica's, if its owner is gone; whether it now is.

        The owner is gone when it is not a replica seen within the lease time (killed, or a
        worker before a restart), or it is this replica (which was interrupted). A live
        replica's claim is left alone: it may be posting right now. Of two replicas taking
        over one claim at once, one does.
        """
        with self._tx() as conn:
            now = self._now(conn)
            live = select(replicas.c.replica_id).where(
                replicas.c.seen_at >= now - timedelta(seconds=self.lease_seconds),
                replicas.c.replica_id != self.replica,
            )
            done = conn.execute(
                sent.update()
                .where(
                    sent.c.key == key,
                    sent.c.state == "sending",
                    sent.c.owner.is_(None) | sent.c.owner.not_in(live),
                )
                .values(owner=self.replica, at=now)
            )
        return done.rowcount == 1

    def mark_sent(self, key: str, comment_id: str | None) -> None:
        with self._tx() as conn:
            conn.execute(
                sent.update()
                .where(sent.c.key == key)
                .values(state="sent", comment_id=comment_id, at=_utcnow())
            )

    def release(self, key: str) -> None:
        """Forget a claim that certainly was not sent, so it is tried again."""
        with self._tx() as conn:
            conn.execute(sent.delete().where(sent.c.key == key, sent.c.state == "sending"))

    def sent_id(self, key: str) -> str | None:
        """What a `sent` key recorded (the comment's or the card's id), None otherwise."""
        with self._tx() as conn:
            row = conn.execute(
                select(sent.c.comment_id).where(sent.c.key == key, sent.c.state == "sent")
            ).first()
        return row[0] if row else None

    def forget(self, key: str) -> None:
        """Drop a key whatever its state (what it recorded no longer exists)."""
        with self._tx() as conn:
            conn.execute(sent.delete().where(sent.c.key == key))

    def sent_keys(self, card_id: str) -> dict[str, str]:
        with self._tx() as conn:
            rows = conn.execute(
                select(sent.c.key, sent.c.state).where(sent.c.card_id == card_id)
            ).all()
        return {row[0]: row[1] for row in rows}

    # -- actions handled (a webhook delivery and the feed bring the same action) ------------------

    def was_handled(self, action_id: str) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                select(handled.c.action_id).where(handled.c.action_id == action_id)
            ).first()
        return row is not None

    def mark_handled(self, action_id: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(handled.insert().values(action_id=action_id, at=_utcnow()))
        except IntegrityError:
            pass

    def forget_handled_before(self, moment: datetime) -> None:
        """Old actions never come again (the feed's cursor is past them): keep the table small."""
        with self._tx() as conn:
            conn.execute(handled.delete().where(handled.c.at < moment))

    # -- template cards ------------------------------------------------------------------------

    def template_card(self, board_id: str) -> TemplateCard | None:
        with self._tx() as conn:
            row = conn.execute(
                select(template_cards).where(template_cards.c.board_id == board_id)
            ).first()
        if row is None:
            return None
        return TemplateCard(row.board_id, row.version, row.card_id, json.loads(row.checklists))

    def save_template_card(self, card: TemplateCard) -> None:
        with self._tx() as conn:
            conn.execute(template_cards.delete().where(template_cards.c.board_id == card.board_id))
            conn.execute(
                template_cards.insert().values(
                    board_id=card.board_id,
                    version=card.version,
                    card_id=card.card_id,
                    checklists=json.dumps(card.checklists),
                )
            )

    # -- replicas and leases ---------------------------------------------------------------------

    def heartbeat(self, replica: str, name: str, seconds: float) -> frozenset[str]:
        """Say that `replica` is alive and extend its leases by `seconds`; what it still holds.

        A lease that ran out and was taken by another replica is not extended: it is no longer
        this replica's, and is not in the answer.
        """
        with self._tx() as conn:
            now = self._now(conn)
            done = conn.execute(
                replicas.update().where(replicas.c.replica_id == replica).values(seen_at=now)
            )
            if done.rowcount == 0:
                conn.execute(
                    replicas.insert().values(
                        replica_id=replica, name=name, started_at=now, seen_at=now
                    )
                )
            conn.execute(
                leases.update()
                .where(leases.c.holder == replica)
                .values(expires_at=now + timedelta(seconds=seconds))
            )
            rows = conn.execute(select(leases.c.unit).where(leases.c.holder == replica)).all()
        return frozenset(row[0] for row in rows)

    def lease_view(self, seconds: float) -> LeaseView:
        """The replicas seen within `seconds` and the leases not expired.

        Replicas not seen for ten times as long are forgotten (their leases ran out long ago).
        """
        with self._tx() as conn:
            now = self._now(conn)
            conn.execute(
                replicas.delete().where(replicas.c.seen_at < now - timedelta(seconds=10 * seconds))
            )
            live = conn.execute(
                select(replicas.c.replica_id)
                .where(replicas.c.seen_at >= now - timedelta(seconds=seconds))
                .order_by(replicas.c.replica_id)
            ).all()
            held = conn.execute(
                select(leases.c.unit, leases.c.holder).where(leases.c.expires_at > now)
            ).all()
        return LeaseView(tuple(row[0] for row in live), {row[0]: row[1] for row in held})

    def acquire(self, unit: str, replica: str, seconds: float) -> bool:
        """Take `unit` for `seconds` if no one holds it (or its lease ran out); whether taken."""
        with self._tx() as conn:
            now = self._now(conn)
            done = conn.execute(
                leases.update()
                .where(
                    leases.c.unit == unit,
                    (leases.c.expires_at <= now) | (leases.c.holder == replica),
                )
                .values(holder=replica, since=now, expires_at=now + timedelta(seconds=seconds))
            )
        if done.rowcount == 1:
            return True
        try:
            with self._tx() as conn:
                now = self._now(conn)
                conn.execute(
                    leases.insert().values(
                        unit=unit,
                        holder=replica,
                        since=now,
                        expires_at=now + timedelta(seconds=seconds),
                    )
                )
        except IntegrityError:
            return False  # someone holds it
        return True

    def give_up(self, unit: str, replica: str) -> None:
        """Give `unit` up (if `replica` still holds it) for another replica to take."""
        with self._tx() as conn:
            conn.execute(leases.delete().where(leases.c.unit == unit, leases.c.holder == replica))

    def leave(self, replica: str) -> None:
        """A replica stopping: its leases are given up and it is no longer counted."""
        with self._tx() as conn:
            conn.execute(leases.delete().where(leases.c.holder == replica))
            conn.execute(replicas.delete().where(replicas.c.replica_id == replica))

    @property
    def shared(self) -> bool:
        """Whether replicas may share this database (a SQLite file has one worker: see `lock`)."""
        return self.engine.dialect.name != "sqlite"

    def forget_replicas(self) -> None:
        """Drop every replica and lease: for a database no other worker can be using."""
        with self._tx() as conn:
            conn.execute(leases.delete())
            conn.execute(replicas.delete())

    def leases(self) -> list[Lease]:
        with self._tx() as conn:
            now = self._now(conn)
            rows = conn.execute(
                select(leases, replicas.c.name)
                .select_from(leases.outerjoin(replicas, replicas.c.replica_id == leases.c.holder))
                .order_by(leases.c.unit)
            ).all()
        return [
            Lease(
                row.unit,
                row.holder,
                row.name or "",
                _aware(row.since),
                _aware(row.expires_at),
                _aware(row.expires_at) > now,
            )
            for row in rows
        ]


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
