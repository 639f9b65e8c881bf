"""The sandbox's records: one `Store` holds them, with one lock, the lookups, and how actions
are recorded.

`Store` holds members, boards, lists, labels, cards, checklists, attachments, webhooks and the
actions feed (oldest first). `record` appends the action Trello would record, with references
to the card, board and list frozen into its `data` at that moment, as Trello does, and then
calls each listener given to `listen` (still under the lock; the webhook deliveries start
there). Seeding (`add_member`, `add_board`) records nothing, so a fresh board's feed is empty.
The writes are collaborators handed this store (`boards`, `cards`, `checklists`, `webhooks`);
`state.SandboxState` puts them together.

Every method takes `lock` (re-entrant), so routes and writes may hold it while they read,
change and render. Missing records raise `NotFound`; input Trello would refuse raises
`BadRequest`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from worker.sandbox.model import (
    Action,
    Attachment,
    Board,
    Card,
    CheckItem,
    Checklist,
    IdFactory,
    Label,
    Member,
    TrelloList,
    Webhook,
    utc_now,
)

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
POS_STEP = 16384.0


class SandboxError(Exception):
    """A request the sandbox answers with an error; the message is the response body."""

    status = 400


class NotFound(SandboxError):
    status = 404

    def __init__(self, message: str = "The requested resource was not found."):
        super().__init__(message)


class BadRequest(SandboxError):
    status = 400


class Unauthorized(SandboxError):
    status = 401


def card_ref(card: Card, **extra: Any) -> JSON:
    return {
        **extra,
        "id": card.id,
        "name": card.name,
        "idShort": card.id_short,
        "shortLink": card.short_link,
    }


def board_ref(board: Board) -> JSON:
    return {"id": board.id, "name": board.name, "shortLink": board.short_link}


def list_ref(lst: TrelloList) -> JSON:
    return {"id": lst.id, "name": lst.name}


def item_ref(item: CheckItem) -> JSON:
    return {"id": item.id, "name": item.name, "state": item.state, "textData": {"emoji": {}}}


def position(value: Any, existing: Iterable[float]) -> float:
    """Trello's `pos`: `top`, `bottom` (the default) or a positive number."""
    taken = list(existing)
    if value is None or value == "" or value == "bottom":
        return (max(taken) if taken else 0.0) + POS_STEP
    if value == "top":
        return (min(taken) / 2) if taken else POS_STEP
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest("invalid value for pos") from None
    if number < 0:
        raise BadRequest("invalid value for pos")
    return number


class Store:
    """The records and lookups (see the module docstring)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now, *, ids_in_order: bool = True):
        self.clock = clock
        self.ids = IdFactory(clock, in_order=ids_in_order)
        self.lock = threading.RLock()
        self.members: dict[str, Member] = {}
        self.boards: dict[str, Board] = {}
        self.lists: dict[str, TrelloList] = {}
        self.labels: dict[str, Label] = {}
        self.cards: dict[str, Card] = {}
        self.checklists: dict[str, Checklist] = {}
        self.attachments: dict[str, Attachment] = {}
        self.actions: list[Action] = []
        self.webhooks: dict[str, Webhook] = {}
        self._listeners: list[Callable[[Action], None]] = []

    def listen(self, listener: Callable[[Action], None]) -> None:
        """Call `listener` with each recorded action, under the lock; it must be quick."""
        with self.lock:
            self._listeners.append(listener)

    # -- seeding (records no actions) -------------------------------------------------------

    def add_member(self, username: str, full_name: str, token: str) -> Member:
        with self.lock:
            member = Member(self.ids.new_id(), username, full_name, token)
            self.members[member.id] = member
            return member

    def add_board(
        self,
        name: str,
        member_ids: list[str],
        list_names: Iterable[str],
        labels: Iterable[tuple[str, str]],
    ) -> Board:
        with self.lock:
            board = Board(self.ids.new_id(), name, self.ids.new_short_link(), list(member_ids))
            self.boards[board.id] = board
            for index, list_name in enumerate(list_names, start=1):
                lst = TrelloList(self.ids.new_id(), board.id, list_name, POS_STEP * index)
                self.lists[lst.id] = lst
            for label_name, color in labels:
                label = Label(self.ids.new_id(), board.id, label_name, color)
                self.labels[label.id] = label
            return board

    # -- lookups ----------------------------------------------------------------------------

    def member_by_token(self, token: str) -> Member | None:
        with self.lock:
            return next((m for m in self.members.values() if m.token == token), None)

    def find_member(self, id_or_username: str) -> Member:
        with self.lock:
            for member in self.members.values():
                if id_or_username in (member.id, member.username):
                    return member
        raise NotFound("model not found")

    def board(self, id_or_short_link: str) -> Board:
        _well_formed(id_or_short_link, short_link=True)
        with self.lock:
            if id_or_short_link in self.boards:
                return self.boards[id_or_short_link]
            for board in self.boards.values():
                if board.short_link == id_or_short_link:
                    return board
        raise NotFound()

    def trello_list(self, list_id: str) -> TrelloList:
        _well_formed(list_id)
        with self.lock:
            if list_id in self.lists:
                return self.lists[list_id]
        raise NotFound()

    def label(self, label_id: str) -> Label:
        _well_formed(label_id)
        with self.lock:
            if label_id in self.labels:
                return self.labels[label_id]
        raise NotFound()

    def card(self, id_or_short_link: str) -> Card:
        _well_formed(id_or_short_link, short_link=True)
        with self.lock:
            if id_or_short_link in self.cards:
                return self.cards[id_or_short_link]
            for card in self.cards.values():
                if card.short_link == id_or_short_link:
                    return card
        raise NotFound()

    def checklist(self, checklist_id: str) -> Checklist:
        _well_formed(checklist_id)
        with self.lock:
            if checklist_id in self.checklists:
                return self.checklists[checklist_id]
        raise NotFound()

    def check_item(self, item_id: str, checklist: Checklist | None = None) -> CheckItem:
        with self.lock:
            pool = [checklist] if checklist else list(self.checklists.values())
            for cl in pool:
                for item in cl.items:
                    if item.id == item_id:
                        return item
        raise NotFound()

    def attachment(self, card: Card, attachment_id: str) -> Attachment:
        with self.lock:
            if attachment_id in card.attachment_ids:
                return self.attachments[attachment_id]
        raise NotFound()

    def action(self, action_id: str) -> Action:
        with self.lock:
            for action in self.actions:
                if action.id == action_id:
                    return action
        raise NotFound()

    def board_lists(self, board_id: str) -> list[TrelloList]:
        with self.lock:
            found = [lst for lst in self.lists.values() if lst.board_id == board_id]
            return sorted(found, key=lambda lst: lst.pos)

    def board_labels(self, board_id: str) -> list[Label]:
        with self.lock:
            return [label for label in self.labels.values() if label.board_id == board_id]

    def board_cards(self, board_id: str) -> list[Card]:
        with self.lock:
            found = [card for card in self.cards.values() if card.board_id == board_id]
            lists = {lst.id: lst.pos for lst in self.board_lists(board_id)}
            return sorted(found, key=lambda card: (lists.get(card.list_id, 0.0), card.pos))

    def list_cards(self, list_id: str) -> list[Card]:
        with self.lock:
            found = [card for card in self.cards.values() if card.list_id == list_id]
            return sorted(found, key=lambda card: card.pos)

    def card_checklists(self, card: Card) -> list[Checklist]:
        with self.lock:
            found = [self.checklists[cid] for cid in card.checklist_ids]
            return sorted(found, key=lambda cl: cl.pos)

    def board_actions(self, board_id: str) -> list[Action]:
        with self.lock:
            return [action for action in self.actions if action.board_id == board_id]

    def card_actions(self, card_id: str) -> list[Action]:
        with self.lock:
            return [action for action in self.actions if action.card_id == card_id]

    # -- recording --------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        actor: Member,
        board: Board,
        data: JSON,
        card: Card | None = None,
        subject: Member | None = None,
    ) -> Action:
        """Append the action `kind` by `actor` for a change just made under the lock, and tell
        the listeners; a card's last activity moves to now."""
        with self.lock:
            now = self.clock()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            action = Action(
                id=self.ids.new_id(),
                type=kind,
                member_id=actor.id,
                date=now,
                data=data,
                board_id=board.id,
                card_id=card.id if card else None,
                subject_member_id=subject.id if subject else None,
            )
            self.actions.append(action)
            if card is not None:
                card.date_last_activity = now
            logger.debug("sandbox: %s by %s", kind, actor.username)
            for listener in self._listeners:
                try:
                    listener(action)
                except Exception:  # a listener's bug must not fail the write
                    logger.exception("sandbox: action listener failed on %s", kind)
            return action

    def card_context(self, card: Card) -> tuple[Board, TrelloList]:
        """The board and list `card` is on."""
        with self.lock:
            return self.boards[card.board_id], self.lists[card.list_id]


_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_SHORT_LINK = re.compile(r"[A-Za-z0-9]{8}")


def _well_formed(given: str, *, short_link: bool = False) -> None:
    """Trello answers 400 `invalid id` for an id that cannot be one; 404 for one that could."""
    if _OBJECT_ID.fullmatch(given) or (short_link and _SHORT_LINK.fullmatch(given)):
        return
    raise BadRequest("invalid id")
