"""The template cards: one archived card per board holding the template's checklists.

Declaring copies each checklist from here in one request (`idChecklistSource`) instead of
one request per item. A board's template card is made when it is missing, when a person
removed one of its checklists, or when the template's version changed; the store remembers
which card holds which version. The first board's card of a version is built a checklist and
an item at a time; every other board's is a copy of it, made in one request (a card from
`idCardSource`, keeping its checklists), then read once for its checklists' ids and archived:
four requests a board, not one per item. A copy that cannot be made (its source gone) or that
lacks a checklist is built instead.
"""

from __future__ import annotations

import logging

from worker.core import trello_json as tj
from worker.errors import NotFoundError, TrelloError
from worker.store.database import Store, TemplateCard
from worker.template import Template
from worker.trello.client import Trello

logger = logging.getLogger(__name__)

CARD_NAME = "Incident template v{version} (kept by incident-worker; do not edit)"


class TemplateCards:
    """Each board's template card for the current template, checked once, then cached."""

    def __init__(self, trello: Trello, store: Store, template: Template):
        self.trello = trello
        self.store = store
        self.template = template
        self._cards: dict[str, TemplateCard] = {}

    def use(self, template: Template) -> None:
        """A new template: every board gets a new card when it next needs one."""
        self.template = template
        self._cards.clear()

    def description(self) -> str:
        """What a template card says of itself (the keeper adds its claim below)."""
        return f"The checklists of {self.template.path}, copied onto each incident card."

    def card_id(self, board_id: str) -> str | None:
        """The template card's id on this board, if it is known by now."""
        known = self._cards.get(board_id)
        return known.card_id if known else None

    def get(self, board_id: str, first_list: str | None = None) -> TemplateCard:
        """The board's card for the current template, made if missing or stale (`first_list`:
        the board's first open list, when the caller has read it)."""
        if board_id in self._cards:
            return self._cards[board_id]
        saved = self.store.template_cards.get(board_id)
        if saved is not None and saved.version == self.template.version:
            try:
                card = tj.card(self.trello.card(saved.card_id))
                present = {checklist.id for checklist in card.checklists or ()}
                if set(saved.checklists.values()) <= present:
                    self._cards[board_id] = saved
                    return saved
            except NotFoundError:
                pass
        made = self._make(board_id, first_list)
        self._cards[board_id] = made
        return made

    def _make(self, board_id: str, list_id: str | None) -> TemplateCard:
        if list_id is None:
            lists = self.trello.lists(board_id)
            if not lists:
                raise TrelloError(
                    f"Board {board_id} has no open list to keep the template card in."
                )
            list_id = tj.named(lists[0]).id
        checklists = self._copied(board_id, list_id)
        if checklists is None:
            checklists = self._built(list_id)
        card_id, by_name = checklists
        self.trello.archive_card(card_id)
        saved = TemplateCard(board_id, self.template.version, card_id, by_name)
        self.store.template_cards.save(saved)
        logger.info("board %s: template card v%s made", board_id, self.template.version)
        return saved

    def _copied(self, board_id: str, list_id: str) -> tuple[str, dict[str, str]] | None:
        """A copy of another board's card of this version: (its id, checklist ids by name), or
        None when there is none to copy (or the copy came out short: it is archived)."""
        wanted = {checklist.name for checklist in self.template.checklists}
        known = [c for c in self._cards.values() if c.version == self.template.version]
        for source in known + self.store.template_cards.of_version(self.template.version):
            if source.board_id == board_id:
                continue
            try:
                made = tj.named(
                    self.trello.create_card(
                        list_id,
                        CARD_NAME.format(version=self.template.version),
                        desc=self.description(),
                        source_card_id=source.card_id,
                    )
                )
            except NotFoundError:  # the source is gone: try another, else build
                continue
            copy = tj.card(self.trello.card(made.id))
            by_name = {c.name: c.id for c in copy.checklists or () if c.name in wanted}
            if set(by_name) == wanted:
                return made.id, by_name
            self.trello.archive_card(made.id)
            logger.warning(
                "board %s: the template card's copy came out short; building it", board_id
            )
            return None
        return None

    def _built(self, list_id: str) -> tuple[str, dict[str, str]]:
        """A card built a checklist and an item at a time: (its id, checklist ids by name)."""
        card = tj.named(
            self.trello.create_card(
                list_id, CARD_NAME.format(version=self.template.version), desc=self.description()
            )
        )
        checklists: dict[str, str] = {}
        for checklist in self.template.checklists:
            made = tj.named(self.trello.create_checklist(card.id, checklist.name))
            for item in checklist.items:
                self.trello.add_check_item(made.id, item.name)
            checklists[checklist.name] = made.id
        return card.id, checklists
