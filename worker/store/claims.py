"""Claims that make an effect happen once: the comments posted, the incident cards made.

A key is claimed (`sending`) before the effect and marked `sent` after, with what it
recorded (the comment's or the card's id), or `refused` when Trello refused it as invalid
(it is never tried again). A claim still `sending` after a crash means "maybe
done": only a gone replica's claim is taken over (`take_over`), and the effect is looked for on
the card before it is done again. The replica that claimed each key is recorded: a claim of a
live replica is its own business (it may be posting right now).

`Claims` works on one claim table: the store has one for comments (`sent`) and one for the
incident cards made for labelled cards (`links`, keyed by the labelled card's id).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError

from worker.store.base import Database
from worker.store.tables import replicas


class Claims:
    """One table of claims, each key once."""

    def __init__(self, store: Database, table: Table):
        self.store = store
        self.table = table

    def state(self, key: str) -> str | None:
        """`sending`, `sent`, or None when the key was never used."""
        with self.store.tx() as conn:
            row = conn.execute(select(self.table.c.state).where(self.table.c.key == key)).first()
        return row[0] if row else None

    def claim(self, key: str, card_id: str) -> bool:
        """Record that `key` is about to be sent; False if it already was claimed."""
        try:
            with self.store.tx() as conn:
                conn.execute(
                    self.table.insert().values(
                        key=key,
                        card_id=card_id,
                        state="sending",
                        at=self.store.now(conn),
                        owner=self.store.replica.id,
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
        with self.store.tx() as conn:
            now = self.store.now(conn)
            live = select(replicas.c.replica_id).where(
                replicas.c.seen_at >= now - timedelta(seconds=self.store.replica.lease_seconds),
                replicas.c.replica_id != self.store.replica.id,
            )
            done = conn.execute(
                self.table.update()
                .where(
                    self.table.c.key == key,
                    self.table.c.state == "sending",
                    self.table.c.owner.is_(None) | self.table.c.owner.not_in(live),
                )
                .values(owner=self.store.replica.id, at=now)
            )
        return done.rowcount == 1

    def mark_sent(self, key: str, comment_id: str | None) -> None:
        with self.store.tx() as conn:
            conn.execute(
                self.table.update()
                .where(self.table.c.key == key)
                .values(state="sent", comment_id=comment_id, at=self.store.now(conn))
            )

    def mark_refused(self, key: str) -> None:
        """Trello refused the effect as invalid: it is never tried again (state `refused`)."""
        with self.store.tx() as conn:
            conn.execute(
                self.table.update()
                .where(self.table.c.key == key)
                .values(state="refused", at=self.store.now(conn))
            )

    def release(self, key: str) -> None:
        """Forget a claim that certainly was not sent, so it is tried again."""
        with self.store.tx() as conn:
            conn.execute(
                self.table.delete().where(self.table.c.key == key, self.table.c.state == "sending")
            )

    def recorded(self, key: str) -> str | None:
        """What a `sent` key recorded (the comment's or the card's id), None otherwise."""
        with self.store.tx() as conn:
            row = conn.execute(
                select(self.table.c.comment_id).where(
                    self.table.c.key == key, self.table.c.state == "sent"
                )
            ).first()
        return row[0] if row else None

    def forget(self, key: str) -> None:
        """Drop a key whatever its state (what it recorded no longer exists)."""
        with self.store.tx() as conn:
            conn.execute(self.table.delete().where(self.table.c.key == key))

    def of_card(self, card_id: str) -> dict[str, str]:
        with self.store.tx() as conn:
            rows = conn.execute(
                select(self.table.c.key, self.table.c.state).where(self.table.c.card_id == card_id)
            ).all()
        return {row[0]: row[1] for row in rows}

    def counted(self, kind: str) -> dict[str, int]:
        """How many keys of `kind` (e.g. `remind-`: the part after the incident's epoch starts
        so) each card has sent."""
        with self.store.tx() as conn:
            rows = conn.execute(
                select(self.table.c.card_id, func.count())
                .where(self.table.c.key.like(f"%:{kind}%"), self.table.c.state == "sent")
                .group_by(self.table.c.card_id)
            ).all()
        return {row[0]: int(row[1]) for row in rows}
