"""A board's actions, read from its feed or delivered by a webhook, each handled once.

The feed is read from the stored cursor (one request a board, see `Trello.board_actions`):
from the newest handled action's date less `FEED_MARGIN`, since Trello's ids are not ordered
within a second. Each action not handled yet is handled and marked handled, each card's in
order and a few cards at once (`in_steps`), and the cursor moves past what was handled with no
gap before it, once a poll. A failure stops that card's actions there: the next cycle starts
again from the cursor, and every action is safe to handle again (see
`worker.runtime.executor`). An action both delivered by a webhook and read from the feed is
handled once (the store's `handled` table).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import takewhile
from typing import Any

from worker.core import trello_json as tj
from worker.core.model import Policy
from worker.core.trello_json import FEED_MARGIN
from worker.errors import DatabaseUnavailable, TrelloError
from worker.runtime.handler import Handler
from worker.store.database import Store
from worker.trello.client import Trello

logger = logging.getLogger(__name__)

#: How many cards' actions one poll handles at the same time (each card's in order): a burst
#: of labels keeps a few requests in flight, inside the rate limiter, so its pace is Trello's
#: limit rather than one round trip after another.
CARDS_AT_ONCE = 4


class Feed:
    """Reads the boards' feeds and takes webhook deliveries, into `Handler.handle`."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        handler: Handler,
        *,
        clock: Callable[[], datetime],
        stop: threading.Event,
    ):
        self.trello = trello
        self.store = store
        self.handler = handler
        self.clock = clock
        self.stop = stop
        #: when each board's feed was last read through
        self.last_poll: dict[str, datetime] = {}
        #: the feeds read ahead, ten boards a request (`prefetch`), for `poll` to take
        self._read_ahead: dict[str, list[tj.Json] | TrelloError] = {}

    def prefetch(self, boards: Sequence[tj.Board]) -> None:
        """Read the feeds of `boards` ten to a request (`Trello.feeds`), for each board's `poll`
        to take; a board with no cursor yet is being set up, and reads its own. One board
        shares a request with nobody: its poll reads its own. A batch that fails as a whole
        leaves each board to read its own (and report its own failure)."""
        self._read_ahead = {}
        try:
            cursors = {board.id: self.store.cursors.get(board.id) for board in boards}
            wanted = [(board_id, _since(c)) for board_id, c in cursors.items() if c is not None]
            if len(wanted) >= 2:
                self._read_ahead = self.trello.feeds(wanted)
        except (TrelloError, DatabaseUnavailable) as exc:  # each board's step meets it again
            logger.debug("the boards' feeds were not read in batches (%s)", exc)

    def poll(self, board: tj.Board, policy: Policy) -> None:
        """Handle the board's actions since the cursor, oldest first; several cards' at once
        (`in_steps`), each card's in order."""
        cursor = self.store.cursors.get(board.id)
        since = _since(cursor)
        ahead = self._read_ahead.pop(board.id, None)
        if isinstance(ahead, TrelloError):
            raise ahead
        read = ahead if ahead is not None else self.trello.board_actions(board.id, since=since)
        actions: list[tuple[tj.ActionRef, tj.Json]] = []
        for raw in read:
            ref = tj.action_ref(raw)
            if ref is None:
                logger.warning("board %s: skipping an action without an id or date", board.name)
                continue
            actions.append((ref, raw))
        done = [False] * len(actions)
        try:
            if not self._handle(board, actions, done, policy):
                return
        finally:  # the cursor moves past what was handled, once a poll, even when one failed
            through = len(list(takewhile(bool, done)))  # every action up to it handled
            newest = actions[through - 1][0] if through else None
            if newest is not None and _later(newest, cursor):
                self.store.cursors.set(board.id, newest.id, newest.date)
        self.handler.look_at_arrivals(board, policy)
        self.last_poll[board.id] = self.clock()

    def _handle(
        self,
        board: tj.Board,
        actions: Sequence[tuple[tj.ActionRef, tj.Json]],
        done: list[bool],
        policy: Policy,
    ) -> bool:
        """Each action handled once, `done` marked as they are; False when stopped. Cards'
        actions are handled a few cards at once, except where a card's incident may be on
        another card (an incident board): there, one after another."""
        if self.handler.runs_elsewhere(board.id):
            steps = [[list(range(len(actions)))]]
        else:
            steps = in_steps([ref.card_id for ref, _ in actions])
        for step in steps:
            if self.stop.is_set():
                return False
            if len(step) == 1:
                self._in_order(board, actions, step[0], done, policy)
                continue
            with ThreadPoolExecutor(min(CARDS_AT_ONCE, len(step))) as pool:
                running = [
                    pool.submit(self._in_order, board, actions, group, done, policy)
                    for group in step
                ]
            failed = [exc for exc in (f.exception() for f in running) if exc is not None]
            if failed:
                raise failed[0]
        return not self.stop.is_set()

    def _in_order(
        self,
        board: tj.Board,
        actions: Sequence[tuple[tj.ActionRef, tj.Json]],
        group: Sequence[int],
        done: list[bool],
        policy: Policy,
    ) -> None:
        for index in group:
            if self.stop.is_set():
                return
            ref, raw = actions[index]
            self._once(board, ref.id, raw, policy)
            done[index] = True

    def started(self, board: tj.Board) -> None:
        """The board's feed was started from now: it counts as read through."""
        self.last_poll[board.id] = self.clock()

    def deliver(
        self, board: tj.Board, ref: tj.ActionRef, raw: tj.Json, policy: Policy, *, look: bool = True
    ) -> None:
        """A verified webhook delivery's action, handled once; on a Trello error the feed
        brings it again. `look=False` leaves the cards that arrived to be looked at later
        (`look_at_arrivals`), once for many deliveries."""
        try:
            self._once(board, ref.id, raw, policy)
            if look:
                self.handler.look_at_arrivals(board, policy)
        except TrelloError as exc:
            logger.warning("webhook: action %s not handled now (%s)", ref.id, exc)

    def look_at_arrivals(self, board: tj.Board, policy: Policy) -> None:
        """The cards that arrived since the last look, looked at now (one request)."""
        try:
            self.handler.look_at_arrivals(board, policy)
        except TrelloError as exc:
            logger.warning("board %s: cards that arrived not looked at now (%s)", board.name, exc)

    def _once(self, board: tj.Board, action_id: str, raw: tj.Json, policy: Policy) -> None:
        if self.store.handled.seen(action_id):
            return
        self.handler.handle(board, raw, policy)
        self.store.handled.mark(action_id)

    def behind(self, board: tj.Board, card: tj.Card) -> bool:
        """Whether the card changed after the newest action read of its board.

        Then the change's event is still on its way, and it says who did what: comparing now
        would act on it without knowing (and say "by nobody").
        """
        cursor = self.store.cursors.get(board.id)
        if cursor is None or not cursor[1] or card.last_activity is None:
            return False
        return card.last_activity > tj.when(cursor[1])

    def health(self, held: list[tj.Board], interval: float) -> tuple[bool, dict[str, Any]]:
        """Healthy when every board held had its feed read within three intervals.

        A replica that holds no board (more replicas than boards) is healthy: it stands by.
        """
        now = self.clock()
        polled = {board.id: self.last_poll.get(board.id) for board in held}
        ok = all(
            when is not None and (now - when).total_seconds() <= 3 * interval
            for when in polled.values()
        )
        boards = {board_id: when.isoformat() if when else None for board_id, when in polled.items()}
        return ok, {"ok": ok, "last_poll": boards}


def in_steps(cards: Sequence[str]) -> list[list[list[int]]]:
    """The order a poll's actions are handled in (pure): `cards[i]` is the card action `i` is
    on ("" for the board itself). A step is a list of groups that may run at the same time,
    one group a card, each the card's actions in order; an action on the board is a step of
    its own, between the cards' actions before and after it."""
    steps: list[list[list[int]]] = []
    run: dict[str, list[int]] = {}
    for index, card in enumerate(cards):
        if card:
            run.setdefault(card, []).append(index)
            continue
        if run:
            steps.append(list(run.values()))
            run = {}
        steps.append([[index]])
    if run:
        steps.append(list(run.values()))
    return steps


def _since(cursor: tuple[str, str] | None) -> str | None:
    """Where a board's feed is read from: Trello's action ids are not ordered within a second,
    so from the newest handled action's date less a margin (what was handled is skipped); a
    board that had no action when it was taken up, from its beginning."""
    return (tj.when(cursor[1]) - FEED_MARGIN).isoformat() if cursor and cursor[1] else None


def _later(ref: tj.ActionRef, cursor: tuple[str, str] | None) -> bool:
    """Whether `ref` is past the cursor (the actions come oldest first, so the last one read
    is the newest; within the margin it may be the cursor itself, or older)."""
    if cursor is None or not cursor[1]:
        return True
    return ref.id != cursor[0] and tj.when(ref.date) >= tj.when(cursor[1])
