"""Declaring from anywhere: an incident gets a card of its own on the incident board.

With `INCIDENT_BOARD_ID` set, the incident label on a card of another watched board (a
support request, a bug report) makes the worker open a card on the incident board, named
after it, and run the incident there; the two cards are linked both ways.

There is exactly one incident card per labelled card, whatever happens. Before it creates
the card the worker claims the labelled card's link in the store (`links`), and after
it records the new card's id under that key. A claim left open by a crash means "the card may
exist": the incident board's cards are searched for the source's marker (written in the new
card's description) before another is made. A label added twice, or seen by both the feed
and the reconcile pass, finds the recorded card.
"""

from __future__ import annotations

import logging

from worker.core import trello_json as tj
from worker.core.bounds import NAME_MAX
from worker.core.declaring import CardStep, card_claim, incident_name
from worker.core.keys import source_marker
from worker.core.quoting import plain, quote
from worker.errors import NotFoundError
from worker.store.database import Store
from worker.trello.client import Trello

logger = logging.getLogger(__name__)


class IncidentBoard:
    """The board where incidents get cards of their own."""

    def __init__(self, trello: Trello, store: Store, board_id: str, list_name: str | None):
        self.trello = trello
        self.store = store
        self.board_id = board_id
        self.list_name = list_name

    def linked_card(self, source_card_id: str) -> str | None:
        """The incident card made for this source card, if one was made and recorded."""
        return self.store.links.recorded(source_card_id)

    def card_for(self, source: tj.Card) -> tuple[tj.Card, bool] | None:
        """The incident card for `source` and whether it is new: the one made before, or a new one.

        None when another worker (a replica) is making it right now. A claim left open by a
        crash, or no record at all (a lost database), makes it look on the board first.
        """
        key = source.id
        state = self.store.links.state(key)
        taken_over = state == "sending" and self.store.links.take_over(key)
        step = card_claim(state, taken_over)
        if step is CardStep.WAIT:
            return None  # a live replica is making it right now
        if step is CardStep.FETCH_RECORDED:
            made = self.store.links.recorded(key)
            if made:
                try:
                    return tj.card(self.trello.card(made)), False
                except NotFoundError:  # deleted by a person: make a new one
                    logger.info("incident card %s for %s is gone; making another", made, key)
            self.store.links.forget(key)
        else:
            found = self._find(source.id)
            if found is not None:
                if state is None:
                    self.store.links.claim(key, source.id)
                self.store.links.mark_sent(key, found.id)
                logger.info("card %s: found the incident card made before", found.id)
                return found, False
        if state != "sending" and not self.store.links.claim(key, source.id):
            return None
        card = tj.card(
            self.trello.create_card(
                self._list_id(),
                plain(incident_name(source.name), NAME_MAX),
                desc=(
                    f"Declared on [{quote(source.name[:200])}]"
                    f"({source.short_url}) `{source_marker(source.id)}`"
                ),
            )
        )
        self.store.links.mark_sent(key, card.id)
        logger.info("card %s: incident card made for card %s", card.id, source.id)
        return card, True

    def _find(self, source_card_id: str) -> tj.Card | None:
        marker = source_marker(source_card_id)
        for raw in self.trello.cards(self.board_id):
            card = tj.card(raw)
            if marker in card.desc:
                return card
        return None

    def _list_id(self) -> str:
        lists = self.trello.lists(self.board_id)
        if self.list_name:
            for item in lists:
                if tj.named(item).name == self.list_name:
                    return tj.named(item).id
            logger.warning(
                "the incident board has no open list %r (INCIDENT_LIST); using its first list",
                self.list_name,
            )
        if not lists:
            raise NotFoundError(
                f"The incident board {self.board_id} (INCIDENT_BOARD_ID) has no open list."
            )
        return tj.named(lists[0]).id
