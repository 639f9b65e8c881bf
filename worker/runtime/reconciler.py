"""The reconcile pass: every labelled card compared with what it should have.

Every `INCIDENT_RECONCILE_SECONDS` (and at start) the worker reads every board it holds (its
open cards, one request a board) and compares each labelled card with what it should have:

- a labelled card that is no incident yet is declared, for whoever put the label on (read
  from the card's history, whose later actions are replayed through the rules), and is
  compared from the next pass on (the card was read before the worker wrote to it);
- each open incident is compared with its card (and, when it runs on a card of its own, with
  the labelled source card): phase signals it missed, the label gone, checklists people
  removed, ticks, the header. What a person deliberately removed stays removed.

Then the follow-ups are made and compared with their cards (`worker.runtime.followups`).

A board whose feed is failing is left out (its events come first), and so is a card changed
after its board's feed was read (its event is on the way, and says who did it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from worker.core import observe, rules
from worker.core import trello_json as tj
from worker.core.model import Ended, Incident, Policy, name_key
from worker.errors import TrelloError
from worker.runtime.boards import Boards
from worker.runtime.feed import Feed
from worker.runtime.followups import FollowUps
from worker.runtime.guard import Guard
from worker.runtime.handler import Handler
from worker.runtime.template_cards import TemplateCards
from worker.store.database import Store
from worker.trello.client import Trello

logger = logging.getLogger(__name__)

#: How long an action id is remembered as handled (the feed's cursor is long past it by then).
HANDLED_KEPT = timedelta(days=2)


class Reconciler:
    """Compares the boards this replica holds with the incidents in the store."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        boards: Boards,
        guard: Guard,
        feed: Feed,
        handler: Handler,
        template_cards: TemplateCards,
        followups: FollowUps,
        *,
        clock: Callable[[], datetime],
        stop: threading.Event,
    ):
        self.trello = trello
        self.store = store
        self.boards = boards
        self.guard = guard
        self.feed = feed
        self.handler = handler
        self.template_cards = template_cards
        self.followups = followups
        self.clock = clock
        self.stop = stop

    def run(self, policy: Policy) -> None:
        """One pass over every board this replica holds (see the module docstring)."""
        cards: dict[str, tuple[tj.Board, tj.Card]] = {}
        seen: set[str] = set()
        # its feed is behind: events first, then compare
        boards = [board for board in self.boards.held() if board.id not in self.guard.failing]
        ahead = self._read_ahead(boards)
        for board in boards:
            reading = partial(self._read, board, cards, ahead.get(board.id))
            if not self.guard.run(board.id, reading, held=False):
                continue
            seen.add(board.id)
        self.store.handled.forget(HANDLED_KEPT)
        # Incidents this pass declares are left out of its comparing: their cards were read
        # before the worker put its checklists (or, on an incident board, the card) there.
        known = {incident.card_id for incident in self.store.incidents.open()}
        label = name_key(policy.incident_label)
        for board, card in list(cards.values()):
            if card.id == self.template_cards.card_id(board.id):
                continue
            if label in board.label_names(card) and self.handler.incident_for(card.id) is None:
                self.handler.declare_found(board, card, policy)
        for incident in self.store.incidents.open():
            if self.stop.is_set():
                return
            if incident.board_id in seen and incident.card_id in known:
                self._compare(incident, cards, policy)
        if not self.stop.is_set():
            read = {board.id: board for board in self.boards.held() if board.id in seen}
            self.followups.run(cards, read, policy)

    def _read_ahead(self, boards: list[tj.Board]) -> dict[str, list[tj.Json] | TrelloError]:
        """The boards' open cards, ten boards a request; one board reads its own, and so does
        each board when the batch fails as a whole."""
        if len(boards) < 2:
            return {}
        try:
            return self.trello.cards_of([board.id for board in boards])
        except TrelloError as exc:
            logger.debug("the boards' cards were not read in batches (%s)", exc)
            return {}

    def _read(
        self,
        board: tj.Board,
        into: dict[str, tuple[tj.Board, tj.Card]],
        ahead: list[tj.Json] | TrelloError | None,
    ) -> None:
        if isinstance(ahead, TrelloError):
            raise ahead
        for raw in ahead if ahead is not None else self.trello.cards(board.id):
            card = tj.card(raw)
            into[card.id] = (board, card)

    def _compare(
        self, incident: Incident, cards: dict[str, tuple[tj.Board, tj.Card]], policy: Policy
    ) -> None:
        found = cards.get(incident.card_id)
        if found is None:
            self.store.incidents.save(rules.end(incident, Ended.ARCHIVED, self.clock()))
            logger.info("card %s: not open on the board now; reminders stop", incident.card_id)
            return
        source = cards.get(incident.source_card_id or "")
        if incident.source_card_id and source is None and self.guard.failing:
            return  # the source card's board may be the failing one: never conclude from it
        if self.feed.behind(*found) or (source is not None and self.feed.behind(*source)):
            return  # something happened the feed has not brought yet: next pass
        board, card = found
        if card.checklists is None:  # never conclude "removed" from an answer that left them out
            logger.warning("card %s: Trello sent no checklists; not repairing", card.id)
            return
        view = observe.card_view(incident, board, card, source, policy)
        decision = rules.reconcile(incident, view, self.clock(), policy)
        self.handler.apply(incident, decision, policy, board, card=card)
