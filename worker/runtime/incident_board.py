"""Declaring from anywhere: an incident gets a card of its own on the incident board.

With `INCIDENT_BOARD_ID` set, the incident label on a card of another watched board (a
support request, a bug report) makes the worker open a card on the incident board, named
after it, and run the incident there; the two cards are linked both ways.

There is exactly one incident card per labelled card, whatever happens: it is made once
(`worker.runtime.cards_made`), keyed by the labelled card's id, and carries the source's marker
in its description. A label added twice, or seen by both the feed and the reconcile pass, finds
the recorded card.
"""

from __future__ import annotations

import logging

from worker.core import trello_json as tj
from worker.core.bounds import NAME_MAX
from worker.core.declaring import incident_name
from worker.core.keys import source_marker
from worker.core.quoting import plain, quote
from worker.runtime.cards_made import find_marked, list_id, made_once
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

        None when another worker (a replica) is making it right now (see `made_once`).
        """
        return made_once(
            self.store.links,
            source.id,
            source.id,
            find=lambda: find_marked(self.trello, self.board_id, source_marker(source.id)),
            make=lambda: self._make(source),
            fetch=lambda card_id: tj.card(self.trello.card(card_id)),
        )

    def _make(self, source: tj.Card) -> tj.Card:
        where = list_id(
            self.trello, self.board_id, self.list_name, "INCIDENT_BOARD_ID, INCIDENT_LIST"
        )
        card = tj.card(
            self.trello.create_card(
                where,
                plain(incident_name(source.name), NAME_MAX),
                desc=(
                    f"Declared on [{quote(source.name[:200])}]"
                    f"({source.short_url}) `{source_marker(source.id)}`"
                ),
            )
        )
        logger.info("card %s: incident card made for card %s", card.id, source.id)
        return card
