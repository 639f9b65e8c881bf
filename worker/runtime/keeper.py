"""Keeping a board: refuse one another worker keeps, and say on the board that we keep ours.

The claims and the judging are `worker.core.keeping`'s; this reads the board's archived cards
(one request, at most every `keeping.STAMP_EVERY` a board) and writes this worker's claim
onto its template card (one request, as often). A claim of this host whose process is no
longer running is taken as lapsed at once: a worker restarted with a new database does not
wait for its own former claim to run out.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.core import keeping
from worker.errors import BoardKeptElsewhere, NotFoundError, RequestRejected
from worker.trello.client import Trello

logger = logging.getLogger(__name__)


def process_running(pid: int) -> bool:
    """Whether a process of this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


@dataclass(frozen=True)
class _Looked:
    at: datetime
    since: datetime  # since when this worker keeps the board (its claim's, else now)
    refusal: str | None  # the sentence naming the worker that keeps it, when another does


class Keeper:
    """Judges, board by board, whether this worker may keep it; stamps its claim when it does."""

    def __init__(
        self,
        trello: Trello,
        database_id: Callable[[], str],
        *,
        clock: Callable[[], datetime],
        host: str | None = None,
        pid: int | None = None,
        running: Callable[[int], bool] = process_running,
    ):
        self.trello = trello
        self.database_id = database_id
        self.clock = clock
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.running = running
        self._looked: dict[str, _Looked] = {}
        self._stamped: dict[str, tuple[str, datetime]] = {}  # board -> (card, when)
        self._unlisted: set[str] = set()  # boards whose archived cards Trello would not list

    def check(
        self, board_id: str, name: str, archived: list[dict[str, object]] | None = None
    ) -> None:
        """Raise `BoardKeptElsewhere` when another worker keeps the board.

        The board's archived cards (`archived`, when the caller read them already) are read
        when it was not looked at within `keeping.STAMP_EVERY`; in between, the last answer
        stands.
        """
        now = self.clock()
        looked = self._looked.get(board_id)
        if looked is None or now - looked.at >= keeping.STAMP_EVERY:
            looked = self._look(board_id, name, now, archived)
            self._looked[board_id] = looked
        if looked.refusal is not None:
            raise BoardKeptElsewhere(looked.refusal)

    def claimed(self, board_id: str, description: str) -> str:
        """`description` with this worker's claim on the board as of now: what a template card
        made now says from the start (then `made_claimed`, and no stamp is written)."""
        return keeping.stamped(description, self._claim(board_id, self.clock()))

    def made_claimed(self, board_id: str, card_id: str, at: datetime) -> None:
        """The template card `card_id` was made carrying the claim of `at` (`claimed`)."""
        self._stamped[board_id] = (card_id, at)

    def _claim(self, board_id: str, now: datetime) -> keeping.Claim:
        looked = self._looked.get(board_id)
        since = looked.since if looked is not None else now
        return keeping.Claim(self.database_id(), self.host, self.pid, since, now)

    def stamp(self, board_id: str, card_id: str, description: str) -> None:
        """Write this worker's claim on its template card, when it holds no current one."""
        now = self.clock()
        done = self._stamped.get(board_id)
        if done is not None and done[0] == card_id and now - done[1] < keeping.STAMP_EVERY:
            return
        claim = self._claim(board_id, now)
        try:
            self.trello.set_description(card_id, keeping.stamped(description, claim))
            self._stamped[board_id] = (card_id, now)
        except (NotFoundError, RequestRejected) as exc:  # the board goes on, unclaimed
            self._stamped[board_id] = (card_id, now)  # not again before STAMP_EVERY
            logger.warning(
                "board %s: the claim could not be written on the template card (%s)",
                board_id,
                exc,
            )

    def _archived(self, board_id: str, name: str) -> list[dict[str, object]]:
        """The board's archived cards; none when Trello will not list them (a stand-in that
        knows no `/cards/closed`): then no claim is seen, said once."""
        try:
            return self.trello.archived_cards(board_id)
        except (NotFoundError, RequestRejected) as exc:
            if board_id not in self._unlisted:
                logger.warning(
                    "board %r: its archived cards cannot be listed (%s); other workers' "
                    "claims on it cannot be seen",
                    name,
                    exc,
                )
            self._unlisted.add(board_id)
            return []

    def _look(
        self, board_id: str, name: str, now: datetime, archived: list[dict[str, object]] | None
    ) -> _Looked:
        claims = []
        for raw in archived if archived is not None else self._archived(board_id, name):
            desc = raw.get("desc")
            claim = keeping.read(desc) if isinstance(desc, str) else None
            if claim is not None:
                claims.append(claim)
        database = self.database_id()
        ours = [  # a claim of ours that lapsed keeps nothing: it starts again from now
            claim.since
            for claim in claims
            if claim.database == database and now - claim.seen < keeping.KEPT_FOR
        ]
        since = min(ours) if ours else now
        mine = keeping.Claim(database, self.host, self.pid, since, now)
        others = [claim for claim in claims if not self._gone(claim)]
        other = keeping.kept_by(others, mine, now)
        if other is None:
            return _Looked(now, since, None)
        lapses = (other.seen + keeping.KEPT_FOR).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        refusal = (
            f"board {name!r} is kept by another incident-worker with a database of its own, "
            f"{other.who()}: leaving the board to it. Workers that share a board must share "
            f"one database (INCIDENT_DATABASE_URL) as replicas. If that worker is gone, its "
            f"claim lapses at {lapses}; to take the board sooner, delete the line 'Kept by "
            f"incident-worker ...' from its archived template card's description"
        )
        return _Looked(now, since, refusal)

    def _gone(self, claim: keeping.Claim) -> bool:
        """A claim of this host whose process no longer runs (this process's is not gone)."""
        if claim.host != self.host or claim.pid == self.pid:
            return False
        return not self.running(claim.pid)
