"""The outbox: messages to people's channels, queued once and sent from here with back-off.

A message (`/tell support`) is queued as one row per channel of its audience, keyed by the
message's key and the channel's number, so asking twice queues it once. A row is `pending`
until a try succeeds (`sent`) or it has failed `MAX_TRIES` times (`failed`); between tries it
waits twice as long each time. The channel's URL is never stored: only its scheme (`mailto`,
`json`...), for receipts and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from worker.store.base import Database, aware
from worker.store.tables import outbox

#: Tries before a message to a channel is given up.
MAX_TRIES = 8
#: The wait after the first failed try; each later wait is twice the last.
FIRST_WAIT = timedelta(seconds=30)


@dataclass(frozen=True)
class Parcel:
    """One message to one channel, as queued."""

    key: str
    message: str
    card_id: str
    audience: str
    channel: int
    scheme: str
    title: str
    body: str
    state: str = "pending"
    attempts: int = 0
    error: str | None = None
    #: when the next try is due (read back from the store)
    next_at: datetime | None = None


class Outbox:
    """The outbox table."""

    def __init__(self, store: Database):
        self.store = store

    def queue(self, parcel: Parcel) -> bool:
        """Queue `parcel` unless it is queued already; whether it was new."""
        try:
            with self.store.tx() as conn:
                now = self.store.now(conn)
                conn.execute(
                    outbox.insert().values(
                        key=parcel.key,
                        message=parcel.message,
                        card_id=parcel.card_id,
                        audience=parcel.audience,
                        channel=parcel.channel,
                        scheme=parcel.scheme,
                        title=parcel.title,
                        body=parcel.body,
                        state="pending",
                        attempts=0,
                        next_at=now,
                        made_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def due(self, limit: int = 50) -> list[Parcel]:
        """Pending parcels whose next try is due, oldest first."""
        with self.store.tx() as conn:
            now = self.store.now(conn)
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.state == "pending", outbox.c.next_at <= now)
                .order_by(outbox.c.made_at, outbox.c.key)
                .limit(limit)
            ).all()
        return [_parcel(row) for row in rows]

    def sent(self, key: str) -> None:
        with self.store.tx() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.key == key)
                .values(state="sent", attempts=outbox.c.attempts + 1, error=None)
            )

    def failed(self, key: str, error: str, *, give_up: bool = False) -> Parcel | None:
        """A try failed: wait twice as long, or give up after `MAX_TRIES` (or at once, with
        `give_up`); the parcel as it now stands."""
        with self.store.tx() as conn:
            row = conn.execute(select(outbox).where(outbox.c.key == key)).first()
            if row is None:
                return None
            tries = row.attempts + 1
            wait = FIRST_WAIT * (2 ** (tries - 1))
            conn.execute(
                outbox.update()
                .where(outbox.c.key == key)
                .values(
                    attempts=tries,
                    error=error[:500],
                    state="failed" if give_up or tries >= MAX_TRIES else "pending",
                    next_at=self.store.now(conn) + wait,
                )
            )
            row = conn.execute(select(outbox).where(outbox.c.key == key)).first()
        return _parcel(row) if row is not None else None

    def of_message(self, message: str) -> list[Parcel]:
        with self.store.tx() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.message == message).order_by(outbox.c.channel)
            ).all()
        return [_parcel(row) for row in rows]


def _parcel(row: Row[Any]) -> Parcel:
    return Parcel(
        key=row.key,
        message=row.message,
        card_id=row.card_id,
        audience=row.audience,
        channel=row.channel,
        scheme=row.scheme,
        title=row.title,
        body=row.body,
        state=row.state,
        attempts=row.attempts,
        error=row.error,
        next_at=aware(row.next_at),
    )
