"""Replicas and their leases: who is alive, and which replica holds which board.

Lease times are the store's one clock: the database's on PostgreSQL, so replicas on machines
whose clocks differ still agree on them (see `worker.runtime.leases` for how they are used).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from worker.store.base import Database, aware
from worker.store.tables import leases, replicas


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


class Replicas:
    """The replicas sharing the database, and their leases."""

    def __init__(self, store: Database):
        self.store = store

    def heartbeat(self, replica: str, name: str, seconds: float) -> frozenset[str]:
        """Say that `replica` is alive and extend its leases by `seconds`; what it still holds.

        A lease that ran out and was taken by another replica is not extended: it is no longer
        this replica's, and is not in the answer.
        """
        with self.store.tx() as conn:
            now = self.store.now(conn)
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

    def view(self, seconds: float) -> LeaseView:
        """The replicas seen within `seconds` and the leases not expired.

        Replicas not seen for ten times as long are forgotten (their leases ran out long ago).
        """
        with self.store.tx() as conn:
            now = self.store.now(conn)
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
        with self.store.tx() as conn:
            now = self.store.now(conn)
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
            with self.store.tx() as conn:
                now = self.store.now(conn)
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
        with self.store.tx() as conn:
            conn.execute(leases.delete().where(leases.c.unit == unit, leases.c.holder == replica))

    def leave(self, replica: str) -> None:
        """A replica stopping: its leases are given up and it is no longer counted."""
        with self.store.tx() as conn:
            conn.execute(leases.delete().where(leases.c.holder == replica))
            conn.execute(replicas.delete().where(replicas.c.replica_id == replica))

    def forget_all(self) -> None:
        """Drop every replica and lease: for a database no other worker can be using."""
        with self.store.tx() as conn:
            conn.execute(leases.delete())
            conn.execute(replicas.delete())

    def leases(self) -> list[Lease]:
        with self.store.tx() as conn:
            now = self.store.now(conn)
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
                aware(row.since),
                aware(row.expires_at),
                aware(row.expires_at) > now,
            )
            for row in rows
        ]
