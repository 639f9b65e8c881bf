"""The worker's memory: SQLAlchemy over a SQLite file by default, PostgreSQL by URL.

Five tables:

- `incidents`: one row per incident card, the `Incident` model as JSON plus the columns the
  loop queries by (board, open).
- `cursors`: per board, the newest action the worker has handled; the feed is read from there.
- `sent`: every comment the worker posts, by idempotency key. A key is written as `sending`
  before the comment goes out and as `sent` after; a key still `sending` after a crash means
  "maybe posted", and the runner looks for the comment's marker on the card before sending.
- `handled`: the actions handled lately, by id, so that an action both delivered by a webhook
  and read from the feed is handled once.
- `template_cards`: per board, the archived card that holds the template's checklists, its
  template version and its checklists' ids by name.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
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
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool, StaticPool

from worker.errors import AlreadyRunning, ConfigError
from worker.model import Incident

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


@dataclass(frozen=True)
class TemplateCard:
    board_id: str
    version: str
    card_id: str
    checklists: dict[str, str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """All the worker's reads and writes of its database, each one short transaction."""

    def __init__(self, engine: Engine, *, path: Path | None = None, created: bool = False):
        self.engine = engine
        #: the SQLite file, if the database is one
        self.path = path
        #: True when this open made the database (first run, or the file was deleted)
        self.created = created
        self._lock: TextIO | None = None

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and create if needed) the database at `url`; errors name INCIDENT_DATABASE_URL."""
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
                engine = create_engine(url, pool_pre_ping=True)
            created = not inspect(engine).has_table("incidents")
            metadata.create_all(engine)
        except (SQLAlchemyError, OSError, ValueError, ImportError) as exc:
            raise ConfigError(
                f"INCIDENT_DATABASE_URL cannot be opened ({type(exc).__name__}: "
                f"{_first_line(exc)})."
            ) from None
        return cls(engine, path=file, created=created)

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
        with self.engine.begin() as conn:
            yield conn

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
                    sent.insert().values(key=key, card_id=card_id, state="sending", at=_utcnow())
                )
        except IntegrityError:
            return False
        return True

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


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
