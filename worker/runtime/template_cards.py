"""The template cards: one archived card per board holding the template's checklists.

Declaring copies each checklist from here in one request (`idChecklistSource`) instead of
one request per item. A board's template card is made when it is missing, when a person
removed one of its checklists, or when the template's version changed; the store remembers
which card holds which version. The first board's card of a version is built a checklist and
an item at a time; every other board's is a copy of it, made in one request (a card from
`idCardSource`, keeping its checklists, saying from the start whatever the caller gives it to
say: the keeper's claim) and archived: two requests a board, not one per item. The copy's
checklist ids are read when first needed (its first incident); a copy that cannot be made (its
source gone), or that turns out to lack a checklist then, is built instead.
"""

from __future__ import annotations

import logging
from dataclasses import replace

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

    def noted(self, board_id: str) -> str | None:
        """The id of the board's card of the current version as known or stored (unread)."""
        known = self._cards.get(board_id) or self.store.template_cards.get(board_id)
        return known.card_id if known and known.version == self.template.version else None

    def current(self, board_id: str, archived: list[dict[str, object]] | None) -> bool:
        """Whether the board's card of the current version is known to be there: stored, and
        among its `archived` cards (when the caller read them). Its checklists are still read
        when first needed (`get`)."""
        card_id = self.noted(board_id)
        if card_id is None or archived is None:
            return board_id in self._cards and card_id is not None
        return any(card.get("id") == card_id for card in archived)

    def get(
        self, board_id: str, first_list: str | None = None, description: str | None = None
    ) -> TemplateCard:
        """The board's card for the current template, made if missing or stale (`first_list`:
        the board's first open list, when the caller has read it; `description`: what a card
        made now says, else `description()`). A copy's checklists are read when first needed."""
        known = self._cards.get(board_id)
        if known is not None and known.checklists:
            return known
        saved = known or self.store.template_cards.get(board_id)
        short = False  # a copy that came out short: build the next one instead
        if saved is not None and saved.version == self.template.version:
            try:
                card = tj.card(self.trello.card(saved.card_id))
                by_name = {checklist.name: checklist.id for checklist in card.checklists or ()}
                if saved.checklists and set(saved.checklists.values()) <= set(by_name.values()):
                    self._cards[board_id] = saved
                    return saved
                wanted = {checklist.name for checklist in self.template.checklists}
                if not saved.checklists and wanted <= set(by_name):  # a copy, read now
                    learnt = replace(saved, checklists={n: by_name[n] for n in sorted(wanted)})
                    self.store.template_cards.save(learnt)
                    self._cards[board_id] = learnt
                    return learnt
                short = not saved.checklists
            except NotFoundError:
                pass
        if short:
            logger.warning(
                "board %s: the template card's copy came out short; building it", board_id
            )
        made = self._make(board_id, first_list, description, copy=not short)
        self._cards[board_id] = made
        return made

    def _make(
        self, board_id: str, list_id: str | None, description: str | None, *, copy: bool = True
    ) -> TemplateCard:
        if list_id is None:
            lists = self.trello.lists(board_id)
            if not lists:
                raise TrelloError(
                    f"Board {board_id} has no open list to keep the template card in."
                )
            list_id = tj.named(lists[0]).id
        desc = description or self.description()
        checklists = self._copied(board_id, list_id, desc) if copy else None
        if checklists is None:
            checklists = self._built(list_id, desc)
        card_id, by_name = checklists
        self.trello.archive_card(card_id)
        saved = TemplateCard(board_id, self.template.version, card_id, by_name)
        self.store.template_cards.save(saved)
        logger.info("board %s: template card v%s made", board_id, self.template.version)
        return saved

    def _copied(self, board_id: str, list_id: str, desc: str) -> tuple[str, dict[str, str]] | None:
        """A copy of another board's card of this version: (its id, no checklist ids yet: they
        are read when first needed), or None when there is none to copy."""
        known = [
            c for c in self._cards.values() if c.version == self.template.version and c.checklists
        ]
        saved = self.store.template_cards.of_version(self.template.version)
        for source in known + [c for c in saved if c.checklists]:  # read, so known complete
            if source.board_id == board_id:
                continue
            try:
                made = tj.named(
                    self.trello.create_card(
                        list_id,
                        CARD_NAME.format(version=self.template.version),
                        desc=desc,
                        source_card_id=source.card_id,
                    )
                )
            except NotFoundError:  # the source is gone: try another, else build
                continue
            return made.id, {}
        return None

    def _built(self, list_id: str, desc: str) -> tuple[str, dict[str, str]]:
        """A card built a checklist and an item at a time: (its id, checklist ids by name)."""
        card = tj.named(
            self.trello.create_card(
                list_id, CARD_NAME.format(version=self.template.version), desc=desc
            )
        )
        checklists: dict[str, str] = {}
        for checklist in self.template.checklists:
            made = tj.named(self.trello.create_checklist(card.id, checklist.name))
            for item in checklist.items:
                self.trello.add_check_item(made.id, item.name)
            checklists[checklist.name] = made.id
        return card.id, checklists
