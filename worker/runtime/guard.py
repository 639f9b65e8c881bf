"""What the loop does when a step on a board fails: say it once, and go on with the rest.

- a refused key or token (`AuthError`) is said once, then the worker tries again less and
  less often (up to every five minutes) until Trello accepts them again;
- the database out of reach is said once (by the leases, which let the boards go);
- a board another worker keeps (`BoardKeptElsewhere`) is said once, and again when it is
  this worker's;
- any other Trello error marks the board failing, said once, and again when it recovers;
- an unexpected error is logged with its traceback, and the loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from worker.errors import AuthError, BoardKeptElsewhere, DatabaseUnavailable, TrelloError
from worker.runtime.leases import Leases

logger = logging.getLogger(__name__)

#: The longest wait between two tries of a refused key or token.
MAX_REFUSED_WAIT = 300.0


class Guard:
    """Runs the loop's steps, keeping count of what fails."""

    def __init__(
        self,
        leases: Leases,
        names: Callable[[str], str],
        poll_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.leases = leases
        self.names = names
        self.poll_seconds = poll_seconds
        self.monotonic = monotonic
        #: the boards whose last step failed (their feed is behind)
        self.failing: set[str] = set()
        #: the boards another worker keeps
        self.kept_elsewhere: set[str] = set()
        self._refused_since: float | None = None
        self._retry_at = 0.0

    def waiting(self) -> bool:
        """Whether the key or token was refused and it is not yet time to try again."""
        return self.monotonic() < self._retry_at

    def run(self, board_id: str, step: Callable[[], object], *, held: bool = True) -> bool:
        """Run `step` for the board; whether it succeeded.

        `held`: the step needs the board's lease (it is skipped when the lease ran out).
        """
        if held and not self.leases.holds(board_id):
            return False
        name = self.names(board_id)
        try:
            step()
        except AuthError as exc:
            self.refused(exc)
            self.failing.add(board_id)
            return False
        except DatabaseUnavailable as exc:  # one database: said once, not once a board
            self.leases.unreachable(exc)
            return False
        except BoardKeptElsewhere as exc:
            if board_id not in self.kept_elsewhere:
                logger.error("%s", exc)
            self.kept_elsewhere.add(board_id)
            return False
        except TrelloError as exc:
            self.failed(board_id, exc)
            return False
        except Exception:
            logger.exception("board %s: unexpected error (will keep trying)", name)
            return False
        if self._refused_since is not None:
            logger.info("Trello accepts the key and token again")
            self._refused_since, self._retry_at = None, 0.0
        if board_id in self.failing:
            logger.info("board %s: Trello answers again", name)
            self.failing.discard(board_id)
        if board_id in self.kept_elsewhere:
            logger.info("board %s: no other worker keeps it now; working on it", name)
            self.kept_elsewhere.discard(board_id)
        return True

    def failed(self, board_id: str, exc: TrelloError) -> None:
        """A Trello error on the board: said once, until it answers again."""
        if board_id not in self.failing:
            logger.warning("board %s: %s (will keep trying)", self.names(board_id), exc)
        self.failing.add(board_id)

    def refused(self, exc: AuthError) -> None:
        """A refused key or token: said once, then tried again less and less often."""
        now = self.monotonic()
        if self._refused_since is None:
            self._refused_since = now
            logger.error("%s; the worker keeps trying, less often, until they work again", exc)
        waited = now - self._refused_since
        delay = min(MAX_REFUSED_WAIT, max(self.poll_seconds, waited))
        self._retry_at = now + delay
