"""Replicas sharing the boards: each board held by one replica at a time, through a lease.

Every replica pointed at one database heartbeats (every third of `INCIDENT_LEASE_SECONDS`):
it says it is alive and extends the leases it holds. At the start of each cycle it looks at
who is alive and who holds what, and takes its share:

- its fair share is the number of units divided by the live replicas, rounded up;
- it gives up what it holds beyond its share (a replica joined: the newcomer takes them);
- it takes units no one holds (never held, given up, or whose holder stopped heartbeating
  and let the lease run out) until it has its share, in an order of its own (a hash of its
  id and the unit's) so that replicas starting together reach for different units.

A unit is a board; with an incident board (`INCIDENT_BOARD_ID`) it is all the boards at once,
since an incident then lives on two boards and must be run by one replica. A replica that is
killed or cut off from the database stops heartbeating; its leases run out after the lease
time, and the others take its units at their next heartbeat or cycle, whichever comes first
(the heartbeat only takes, up to the share; giving up is the cycle's, between boards, so
nothing is given up in the middle of working on it). A replica that cannot heartbeat
stops working on its units by its own clock when the lease it last renewed runs out, so two
replicas never knowingly work on one board. Should they overlap all the same (a replica
paused longer than the lease), the comments stay exactly-once: their keys are claimed in the
shared database.

The decision (`plan`) is pure; `Leases` carries it out against the store.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass

from worker.errors import DatabaseUnavailable
from worker.store.database import Store

logger = logging.getLogger(__name__)

#: The unit that stands for every board, when an incident board ties them together.
ALL_BOARDS = "*"


@dataclass(frozen=True)
class Plan:
    take: tuple[str, ...]
    give: tuple[str, ...]


def preference(replica: str, unit: str) -> str:
    """A replica's own order of the units (rendezvous hashing)."""
    return hashlib.sha256(f"{replica}\0{unit}".encode()).hexdigest()


def share(units: int, replicas: int) -> int:
    """How many units each of `replicas` live replicas holds at most."""
    return math.ceil(units / max(1, replicas))


def plan(
    units: Sequence[str],
    holders: Mapping[str, str],
    live: Sequence[str],
    me: str,
    settled: Collection[str] = (),
) -> Plan:
    """What `me` should take and give up, given who holds what and who is alive.

    `holders` are the leases not expired; `live` the replicas heartbeating (`me` is counted
    even if its own heartbeat has not been seen yet); `settled` the units `me` has set up
    already, which it gives up last.
    """
    fair = share(len(units), len({*live, me}))
    mine = sorted(
        (u for u in units if holders.get(u) == me),
        key=lambda u: (u not in settled, preference(me, u)),
    )
    strays = tuple(u for u, holder in holders.items() if holder == me and u not in units)
    give = tuple(mine[fair:]) + strays
    kept = len(mine) - len(mine[fair:])
    free = sorted((u for u in units if u not in holders), key=lambda u: preference(me, u))
    take = tuple(free[: max(0, fair - kept)])
    return Plan(take=take, give=give)


def units_of(boards: Sequence[str], *, together: bool) -> dict[str, tuple[str, ...]]:
    """The leased units and their boards: one a board, or one for all of them."""
    if together:
        return {ALL_BOARDS: tuple(boards)}
    return {board: (board,) for board in boards}


class Leases:
    """This replica's units, kept through the store; safe to call from two threads."""

    def __init__(
        self,
        store: Store,
        units: Mapping[str, tuple[str, ...]],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.units = dict(units)
        #: this replica (the store's), and how long its leases last
        self.id = store.replica.id
        self.name = store.replica.name
        self.seconds = store.replica.lease_seconds
        self.monotonic = monotonic
        self._held: frozenset[str] = frozenset()
        self._valid_until = 0.0
        self._lock = threading.Lock()
        self._unreachable = False
        #: how many times the database failed (for `/metrics`)
        self.database_errors = 0
        #: the live replicas at the last rebalance, this one included
        self.replicas = 1
        self._busy = threading.RLock()  # one heartbeat or rebalance at a time
        self._fresh: list[str] = []  # units the heartbeat took, not yet reported

    def heartbeat(self, *, take: bool = False) -> None:
        """Say this replica is alive and keep its leases; a database it cannot reach is said once.

        The leases count from before the heartbeat was sent, so this replica's idea of when
        they run out is never later than the database's. With `take` (the heartbeat job), it
        also takes boards no one holds up to its share, so that a dead replica's boards are
        taken over on time however long this replica's cycle is; they are worked on from its
        next cycle (see `fresh`).
        """
        with self._busy:
            started = self.monotonic()
            try:
                held = self.store.replicas.heartbeat(self.id, self.name, self.seconds)
            except DatabaseUnavailable as exc:
                self.unreachable(exc)
                return
            if self._unreachable:
                logger.info("the database answers again")
            self._unreachable = False
            with self._lock:
                lost = self._held - held
                self._held = held & self.units.keys()
                self._valid_until = started + self.seconds
            for unit in sorted(lost):
                logger.warning("lost the lease on %s to another replica", self._shown(unit))
            if take:
                try:
                    taken, _ = self._carry_out(settled=(), give=False)
                except DatabaseUnavailable as exc:
                    self.unreachable(exc)
                    return
                self._fresh += taken

    def unreachable(self, exc: DatabaseUnavailable) -> None:
        """The database failed: said once, until a heartbeat gets through again."""
        self.database_errors += 1
        if not self._unreachable:
            logger.error("%s (boards are let go when their leases run out)", exc)
        self._unreachable = True

    def rebalance(self, settled: Collection[str] = ()) -> tuple[list[str], list[str]]:
        """Take this replica's share and give up the rest; (boards taken, boards given up).

        `settled`: the boards this replica has set up already, given up last. The boards
        the heartbeat took since the last call count as taken.
        """
        with self._busy:
            self.heartbeat()
            if self._unreachable:
                return [], []
            done = {u for u, boards in self.units.items() if set(boards) <= set(settled)}
            taken, given = self._carry_out(settled=done, give=True)
            taken, self._fresh = self._fresh + taken, []
            return self._boards(taken), self._boards(given)

    def _carry_out(self, *, settled: Collection[str], give: bool) -> tuple[list[str], list[str]]:
        """Take this replica's share and, with `give`, give up the rest: (taken, given up).

        Called with `_busy` held.
        """
        view = self.store.replicas.view(self.seconds)
        self.replicas = len({*view.live, self.id})
        decision = plan(list(self.units), view.holders, view.live, self.id, settled)
        given: list[str] = []
        if give:
            for unit in decision.give:
                self.store.replicas.give_up(unit, self.id)
                given.append(unit)
        started = self.monotonic()
        taken = [u for u in decision.take if self.store.replicas.acquire(u, self.id, self.seconds)]
        with self._lock:
            self._held = (self._held - set(given)) | set(taken)
            if taken:
                self._valid_until = min(self._valid_until, started + self.seconds)
        return taken, given

    def holds(self, board_id: str) -> bool:
        """Whether this replica may work on the board now (its lease has not run out)."""
        with self._lock:
            if self.monotonic() >= self._valid_until:
                return False
            return any(board_id in self.units.get(unit, ()) for unit in self._held)

    def boards(self) -> list[str]:
        """The boards this replica holds now."""
        with self._lock:
            if self.monotonic() >= self._valid_until:
                return []
            return self._boards(sorted(self._held))

    def leave(self) -> None:
        """Give every lease up at once, so the other replicas take them at their next cycle."""
        with self._busy:
            with self._lock:
                self._held, self._valid_until = frozenset(), 0.0
            with suppress(DatabaseUnavailable):  # if so, the leases run out by themselves
                self.store.replicas.leave(self.id)

    def _boards(self, units: Sequence[str]) -> list[str]:
        return [board for unit in units for board in self.units.get(unit, ())]

    def _shown(self, unit: str) -> str:
        return "every board" if unit == ALL_BOARDS else f"board {unit}"
