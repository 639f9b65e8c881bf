"""The sandbox's in-memory Trello: `SandboxState`, the records and the writes, put together.

`records` is the one `store.Store` (records, lock, lookups, recording actions); the writes are
objects handed it: `board_writes` (lists, labels), `card_writes` (cards, their labels, members
and comments), `checklist_writes` (checklists, check items, attachments) and
`webhook_registry` (webhooks). Nothing else holds records, so every change goes through the
one lock and lands in the one actions feed.

The tests, the demo and the benchmarks read the state directly (`sandbox.state.lock`,
`.cards`, `.card(...)`...): those names are kept here and pass on to `records`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from threading import RLock

from worker.sandbox.boards import BoardWrites
from worker.sandbox.cards import CardWrites
from worker.sandbox.checklists import ChecklistWrites
from worker.sandbox.model import (
    Action,
    Attachment,
    Board,
    Card,
    Checklist,
    IdFactory,
    Label,
    Member,
    TrelloList,
    utc_now,
)
from worker.sandbox.store import BadRequest, NotFound, SandboxError, Store, Unauthorized
from worker.sandbox.webhooks import WebhookRegistry

__all__ = ["BadRequest", "NotFound", "SandboxError", "SandboxState", "Unauthorized"]


class SandboxState:
    """Everything the sandbox knows and every change Trello can make to it."""

    #: seconds the HEAD check on a new webhook's callback URL may take
    callback_timeout: float = 5.0

    def __init__(self, clock: Callable[[], datetime] = utc_now, *, ids_in_order: bool = True):
        self.records = Store(clock, ids_in_order=ids_in_order)
        self.board_writes = BoardWrites(self.records)
        self.checklist_writes = ChecklistWrites(self.records)
        self.card_writes = CardWrites(self.records, self.checklist_writes)
        self.webhook_registry = WebhookRegistry(self.records)

    # -- the records, as read straight from the state (each passes on to `records`) ---------

    @property
    def lock(self) -> RLock:
        """The records' re-entrant lock: hold it to read several records as one."""
        return self.records.lock

    @property
    def ids(self) -> IdFactory:
        """The records' id factory."""
        return self.records.ids

    @property
    def members(self) -> dict[str, Member]:
        """The members by id."""
        return self.records.members

    @property
    def boards(self) -> dict[str, Board]:
        """The boards by id."""
        return self.records.boards

    @property
    def lists(self) -> dict[str, TrelloList]:
        """The lists by id."""
        return self.records.lists

    @property
    def labels(self) -> dict[str, Label]:
        """The labels by id."""
        return self.records.labels

    @property
    def cards(self) -> dict[str, Card]:
        """The cards by id."""
        return self.records.cards

    @property
    def checklists(self) -> dict[str, Checklist]:
        """The checklists by id."""
        return self.records.checklists

    @property
    def attachments(self) -> dict[str, Attachment]:
        """The attachments by id."""
        return self.records.attachments

    @property
    def actions(self) -> list[Action]:
        """The actions feed, oldest first."""
        return self.records.actions

    def card(self, id_or_short_link: str) -> Card:
        """The card with that id or short link (`NotFound` if none)."""
        return self.records.card(id_or_short_link)

    def trello_list(self, list_id: str) -> TrelloList:
        """The list with that id (`NotFound` if none)."""
        return self.records.trello_list(list_id)

    def board_lists(self, board_id: str) -> list[TrelloList]:
        """The board's lists by position."""
        return self.records.board_lists(board_id)

    def board_labels(self, board_id: str) -> list[Label]:
        """The board's labels."""
        return self.records.board_labels(board_id)

    def board_cards(self, board_id: str) -> list[Card]:
        """The board's cards by list, then position."""
        return self.records.board_cards(board_id)

    def card_checklists(self, card: Card) -> list[Checklist]:
        """The card's checklists by position."""
        return self.records.card_checklists(card)

    def card_actions(self, card_id: str) -> list[Action]:
        """The card's actions, oldest first."""
        return self.records.card_actions(card_id)
