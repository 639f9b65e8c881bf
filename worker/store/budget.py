"""Trello's request budget, shared by the replicas of one database from their first request.

Trello allows a token 100 requests in any 10 s. Replicas starting together cannot split that
by counting each other first: each would take the whole budget until it had seen the others.
So on a database replicas share, every request is claimed here before it is sent: time is cut
into one-second slots of the database's clock (one clock for every replica, whatever their
own say), and a slot holds at most `PER_SLOT` requests of all replicas together. A span of
10 s (plus the latency between sending and Trello's counting) touches at most 12 slots, so
the replicas together send at most 12 x `PER_SLOT` = 96 in any 10 s, however many start at
once and however little they know of each other. A claim is one small transaction.
"""

from __future__ import annotations

import logging
import math

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from worker.errors import DatabaseUnavailable
from worker.store.base import Database
from worker.store.tables import budget

logger = logging.getLogger(__name__)

#: The most requests all replicas together send in one second of the database's clock.
PER_SLOT = 8
#: How many seconds of claims are kept (older slots are deleted as new ones begin).
KEPT_SLOTS = 60


class Budget:
    """The shared budget: a request is sent once `claim` says it may be."""

    def __init__(self, store: Database, *, per_slot: int = PER_SLOT):
        self.store = store
        self.per_slot = per_slot
        self._unreachable = False

    def claim(self) -> float:
        """Take one request of the current second: 0 when taken, else how many seconds until
        the next second begins (nothing taken). When the database cannot be reached the
        request goes (0), said once: the worker's own limiter still holds it to its share."""
        try:
            waited = self._claim()
        except DatabaseUnavailable as exc:
            if not self._unreachable:
                logger.warning("the shared request budget cannot be claimed now (%s)", exc)
            self._unreachable = True
            return 0.0
        self._unreachable = False
        return waited

    def _claim(self) -> float:
        with self.store.tx() as conn:
            now = self.store.now(conn).timestamp()
            slot = math.floor(now)
            if self._take(conn, slot) or self._begin(conn, slot) or self._take(conn, slot):
                return 0.0
            return max(0.0, slot + 1 - now)

    def _take(self, conn: Connection, slot: int) -> bool:
        """One request of a slot already begun, when it has room."""
        row = budget.c
        taken = conn.execute(
            budget.update()
            .where(row.slot == slot, row.used < self.per_slot)
            .values(used=row.used + 1)
        )
        return bool(taken.rowcount)

    def _begin(self, conn: Connection, slot: int) -> bool:
        """Begin the slot with one request, unless it was begun (by another replica too)."""
        row = budget.c
        if conn.execute(select(row.used).where(row.slot == slot)).first() is not None:
            return False
        try:
            with conn.begin_nested():
                conn.execute(budget.insert().values(slot=slot, used=1))
        except IntegrityError:
            return False
        conn.execute(delete(budget).where(row.slot < slot - KEPT_SLOTS))
        return True
