"""The boards this replica holds: taken through the leases, read when first worked on.

Each cycle starts by taking this replica's share of the boards (`worker.runtime.leases`): with
one worker that is every board; with several replicas on one database, each board is worked on
by one of them at a time. A board is read (lists, labels, members; its template card and feed
cursor checked) when its turn first comes, and read afresh whenever it is taken again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from worker.core import trello_json as tj
from worker.core.model import name_key
from worker.core.trello_json import FEED_MARGIN
from worker.errors import BoardKeptElsewhere, DatabaseUnavailable, TrelloError, TrelloUnavailable
from worker.runtime.keeper import Keeper
from worker.runtime.leases import Leases
from worker.runtime.template_cards import TemplateCards
from worker.store.database import Store, TemplateCard
from worker.trello.client import RECENT_ACTIONS, TakeUp, Trello, Whole

logger = logging.getLogger(__name__)

#: How many boards' template cards one cycle makes, after its feeds (a copy and its archiving,
#: two requests each): a cold start on many boards watches every board from its first cycle and
#: spends a few seconds a cycle on their cards, not a minute before the first feed is read.
TEMPLATE_CARDS_PER_CYCLE = 10


class Boards:
    """This replica's boards: which it holds, and what it has read of each."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        leases: Leases,
        template_cards: TemplateCards,
        keeper: Keeper,
        *,
        watched: list[str],
        incident_label: str,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.trello = trello
        self.store = store
        self.leases = leases
        self.template_cards = template_cards
        self.keeper = keeper
        self.watched = watched
        self.incident_label = incident_label
        self.clock = clock
        self.monotonic = monotonic
        self._read: dict[str, tj.Board] = {}
        self._names: dict[str, str] = {}
        self._planned_at = 0.0
        self._fresh: set[str] = set()
        #: what taking a board up reads, read ahead for many boards at once (`read_ahead`)
        self._ahead: dict[str, TakeUp | TrelloError] = {}
        #: boards taken up whose template card is to be made (a dict: ordered, no repeats)
        self._unmade: dict[str, None] = {}
        self._making = threading.Lock()

    def learn_names(self) -> None:
        """Every watched board's name, ten boards a request (a wrong board id stops the worker
        here)."""
        for board_id, found in self.trello.boards(self.watched).items():
            if isinstance(found, Exception):
                raise found
            self._names[board_id] = tj.named(found).name or board_id

    def name(self, board_id: str) -> str:
        return self._names.get(board_id, board_id)

    def take_share(self) -> None:
        """Take this replica's share of the boards and give up the rest.

        The boards already read are the last to be given up, so replicas starting together
        hand boards to each other before spending requests on them.
        """
        try:
            taken, given = self.leases.rebalance(settled=self._read.keys())
        except DatabaseUnavailable as exc:
            self.leases.unreachable(exc)  # its leases run out by themselves
            return
        finally:
            self._planned_at = self.monotonic()
        self.trello.share_budget(self.leases.replicas)
        for board_id in given:
            self._read.pop(board_id, None)
            self._unmade.pop(board_id, None)
            logger.info("board %r given up for another replica to take", self.name(board_id))
        for board_id in taken:
            self._read.pop(board_id, None)  # read afresh: it may have changed meanwhile
            logger.info("holding board %r", self.name(board_id))

    def replan_due(self, lease_seconds: float) -> bool:
        """Whether a long cycle should hand over what other replicas should have by now."""
        return self.monotonic() - self._planned_at >= lease_seconds / 3

    def ready(self, board_id: str) -> tj.Board:
        """The board, read when first worked on (see `take_up`)."""
        return self.take_up(board_id)[0]

    def take_up(self, board_id: str) -> tuple[tj.Board, bool]:
        """The board, read when first worked on: lists, labels, members, cursor.

        First, and every few minutes, the keeper checks that no other worker (with a database
        of its own) keeps the board, and stamps this worker's claim on its template card;
        `BoardKeptElsewhere` when another does. A board whose template card is missing or of
        an older version gets it now when it is read on its own; one of many read together
        waits for it (`unmade`, made a few a cycle after the feeds): it is watched meanwhile,
        and an incident declared there has its card made first. A board new to the database starts
        its feed from now (making its template card may take thousands of actions, none worth
        reading back). Every board read afresh is one to compare with its cards in this cycle
        (`take_fresh`), so a label put on while the worker was starting, or away, is found
        then. Raises what reading it raised (the guard reports it, and it is tried again next
        cycle). Also whether its feed was started from now by this call: reading it now would
        bring only what was just marked as read.
        """
        ahead = self._ahead.pop(board_id, None)
        if isinstance(ahead, TrelloUnavailable):
            raise ahead
        if isinstance(ahead, TrelloError):  # perhaps only the nested read: read it plainly
            logger.debug("board %s: read on its own (%s)", board_id, ahead)
            ahead = None
        archived = ahead.archived if ahead else None
        try:
            self.keeper.check(board_id, self.name(board_id), archived)
        except BoardKeptElsewhere:
            self._read.pop(board_id, None)  # read afresh when it is this worker's again
            raise
        board = self._read.get(board_id)
        started = False
        if board is None:
            board = self._load(board_id, ahead.whole if ahead else None)
            if not self.template_cards.current(board.id, archived):
                if ahead is None:  # a board read on its own (one board): its card now
                    self.template_card(board.id, board)
                else:  # one of many: a few a cycle, after their feeds (`unmade`)
                    self._unmade[board.id] = None
            if self.store.cursors.get(board.id) is None:
                self._start_cursor(board, ahead.recent if ahead else None)
                started = True
            self._read[board.id] = board
            self._fresh.add(board.id)
        card_id = self.template_cards.noted(board.id)
        if card_id is not None and board.id not in self._unmade:
            self.keeper.stamp(board.id, card_id, self.template_cards.description())
        return board, started

    def unmade(self) -> list[str]:
        """The boards held whose template card is still to be made, in the order taken up."""
        return [b for b in self._unmade if b in self._read and self.leases.holds(b)]

    def template_card(self, board_id: str, read: tj.Board | None = None) -> TemplateCard:
        """The board's template card, made now when it is missing or stale, carrying this
        worker's claim from the start (so no stamp is written for it). One at a time: two
        cards of one board declared at once wait for the same card. `read`: the board, when
        it is being taken up."""
        with self._making:
            return self._template_card(board_id, read or self._read.get(board_id))

    def _template_card(self, board_id: str, board: tj.Board | None) -> TemplateCard:
        before = self.store.template_cards.get(board_id)
        at = self.clock()
        description = self.keeper.claimed(board_id, self.template_cards.description())
        first_list = next(iter(board.lists), None) if board is not None else None
        made = self.template_cards.get(board_id, first_list, description)
        if before is None or made.card_id != before.card_id:
            self.keeper.made_claimed(board_id, made.card_id, at)
        self._unmade.pop(board_id, None)
        return made

    def read_ahead(self) -> None:
        """What taking up the boards held but not read yet will read, ten routes a request
        (`Trello.take_up_reads`), for `take_up` to use; one board reads its own, and so does
        each board when the batch fails as a whole."""
        self._ahead = {}  # only this cycle's: a board not taken up now is read again later
        waiting = [b for b in self.leases.boards() if b not in self._read]
        if len(waiting) < 2:
            return
        try:
            self._ahead.update(self.trello.take_up_reads(waiting))
        except TrelloError as exc:
            logger.debug("the boards to take up were not read in batches (%s)", exc)

    def take_fresh(self) -> bool:
        """Whether a board was read afresh since the last call (taken over, added, new)."""
        fresh, self._fresh = bool(self._fresh), set()
        return fresh

    def get(self, board_id: str) -> tj.Board | None:
        """The board if this replica holds it now and has read it."""
        board = self._read.get(board_id)
        return board if board is not None and self.leases.holds(board_id) else None

    def held(self) -> list[tj.Board]:
        """The boards this replica works on now: taken, read, and their leases current."""
        return [self._read[b] for b in self.leases.boards() if b in self._read]

    def watching(self) -> str:
        """The boards this replica works on, by name, as the ready line says them."""
        names = ", ".join(repr(board.name) for board in self.held())
        if names:
            return names
        if self.leases.boards():
            return "no board yet (the boards taken cannot be read yet)"
        return "no board yet (other replicas hold them all)"

    def _load(self, board_id: str, whole: Whole | None) -> tj.Board:
        board = tj.board(*(whole if whole is not None else self.trello.board_whole(board_id)))
        self._names[board_id] = board.name
        if name_key(self.incident_label) not in board.labels:
            logger.warning(
                "board %r has no label %r (INCIDENT_LABEL): nothing can be declared there "
                "until someone creates it",
                board.name,
                self.incident_label,
            )
        return board

    def _start_cursor(self, board: tj.Board, recent: list[tj.Json] | None) -> None:
        """A new board starts from now: its history is not replayed (reconcile finds incidents).

        The feed is read from a margin before the cursor (see `worker.runtime.feed`): the
        actions within it are history too, so they are recorded as handled. Read ahead
        (`recent`), the board's newest actions hold them (unless every one of them is within
        the margin: then the margin is read whole).
        """
        read_ahead = recent is not None
        if recent is None:
            latest = self.trello.latest_action(board.id)
            recent = [latest] if latest is not None else []
        newest = tj.action_ref(recent[0]) if recent else None
        if newest is None:  # no action yet: its feed is read from its beginning, by Trello's
            self.store.cursors.set(board.id, "", "")  # clock (this one's may differ)
            return
        start = tj.when(newest.date) - FEED_MARGIN
        within = [
            raw
            for raw in recent
            if (ref := tj.action_ref(raw)) is not None and tj.when(ref.date) >= start
        ]
        if not read_ahead or len(recent) >= RECENT_ACTIONS and len(within) == len(recent):
            within = self.trello.board_actions(board.id, since=start.isoformat())  # read it all
        for raw in within:
            ref = tj.action_ref(raw)
            if ref is not None:
                self.store.handled.mark(ref.id)
        self.store.handled.mark(newest.id)
        self.store.cursors.set(board.id, newest.id, newest.date)
