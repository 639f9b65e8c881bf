"""Trello's JSON, read in one place: actions as typed events, cards and boards as views.

Past this module the worker handles typed values: dates are aware datetimes in UTC
(`when`), label and list names compare through `name_key`, a card is a `Card`, a board a
`Board`, a card's comments `Posted`, and an action one of the `Event`s.

`parse_action` reads one action's JSON and returns the event it means, or None for actions
the worker has no use for. An action whose shape is not what Trello sends raises
`UnexpectedAction`; the runner logs it and moves on, so one odd action never stops the loop.

Trello records a label change twice (`addLabelToCard`, then an `updateCard` with
`old.idLabels`); only the first becomes an event. An `updateCard` is a move only when it has
`listBefore`/`listAfter`, an archive only when it has `old.closed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from worker.core.model import name_key, same_name

#: The actions by which a card arrives on a board, its labels already on it: Trello records no
#: `addLabelToCard` for those.
ARRIVALS = frozenset(
    {"createCard", "copyCard", "moveCardToBoard", "convertToCardFromCheckItem", "emailCard"}
)
#: How far before the newest action handled a board's feed is read again: Trello's action ids
#: are not ordered within a second, and an action's date may be a little earlier than one
#: read before it.
FEED_MARGIN = timedelta(seconds=5)
#: Trello's JSON as it arrives, before this module reads it.
Json = dict[str, Any]


class UnexpectedAction(ValueError):
    """An action whose JSON does not have the shape Trello documents."""


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    name: str = ""


class _Card(_Named):
    shortLink: str = ""
    idList: str | None = None
    closed: bool | None = None


class _Member(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    username: str = ""


class _CheckItem(_Named):
    state: str


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: _Card | None = None
    board: _Named | None = None
    label: _Named | None = None
    text: str | None = None
    listBefore: _Named | None = None
    listAfter: _Named | None = None
    list: _Named | None = None
    old: dict[str, Any] = {}
    checkItem: _CheckItem | None = None
    checklist: _Named | None = None


class _Action(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: str
    date: datetime
    idMemberCreator: str
    memberCreator: _Member | None = None
    data: _Data


@dataclass(frozen=True)
class Event:
    """What every event carries: which action, when, by whom, on which card."""

    action_id: str
    at: datetime
    member_id: str
    username: str
    card_id: str
    card_name: str
    board_id: str
    short_link: str


@dataclass(frozen=True)
class LabelAdded(Event):
    label: str


@dataclass(frozen=True)
class LabelRemoved(Event):
    label: str


@dataclass(frozen=True)
class CardCreated(Event):
    list_name: str


@dataclass(frozen=True)
class CardMoved(Event):
    list_before: str
    list_after: str


@dataclass(frozen=True)
class CardArchived(Event):
    archived: bool


@dataclass(frozen=True)
class CardDeleted(Event):
    pass


@dataclass(frozen=True)
class Commented(Event):
    text: str


@dataclass(frozen=True)
class CheckItemChanged(Event):
    checklist_id: str
    item_id: str
    item_name: str
    complete: bool


def parse_action(raw: Any) -> Event | None:
    """The event `raw` means, None if the worker has no use for it.

    Raises `UnexpectedAction` when the JSON is not shaped like a Trello action.
    """
    if not isinstance(raw, dict):
        raise UnexpectedAction(f"an action that is not a JSON object ({type(raw).__name__})")
    try:
        action = _Action.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UnexpectedAction(
            f"action {raw.get('id', '?')} ({raw.get('type', '?')}): {where} {first['msg']}"
        ) from None
    data = action.data
    if data.card is None:
        return None
    common: dict[str, Any] = {
        "action_id": action.id,
        "at": action.date,
        "member_id": action.idMemberCreator,
        "username": action.memberCreator.username if action.memberCreator else "",
        "card_id": data.card.id,
        "card_name": data.card.name,
        "short_link": data.card.shortLink,
        "board_id": data.board.id if data.board else "",
    }
    kind = action.type
    if kind in ("addLabelToCard", "removeLabelFromCard"):
        label = data.label.name if data.label else (data.text or "")
        if kind == "addLabelToCard":
            return LabelAdded(**common, label=label)
        return LabelRemoved(**common, label=label)
    if kind in ARRIVALS:
        return CardCreated(**common, list_name=data.list.name if data.list else "")
    if kind == "updateCard":
        if data.listBefore is not None and data.listAfter is not None:
            return CardMoved(
                **common, list_before=data.listBefore.name, list_after=data.listAfter.name
            )
        if "closed" in data.old:
            return CardArchived(**common, archived=bool(data.card.closed))
        return None
    if kind == "deleteCard":
        return CardDeleted(**common)
    if kind == "commentCard":
        if data.text is None:
            raise UnexpectedAction(f"action {action.id} (commentCard): data.text is missing")
        return Commented(**common, text=data.text)
    if kind == "updateCheckItemStateOnCard":
        if data.checkItem is None or data.checklist is None:
            raise UnexpectedAction(
                f"action {action.id} (updateCheckItemStateOnCard): data.checkItem is missing"
            )
        return CheckItemChanged(
            **common,
            checklist_id=data.checklist.id,
            item_id=data.checkItem.id,
            item_name=data.checkItem.name,
            complete=data.checkItem.state == "complete",
        )
    return None


# -- cards, boards and dates ------------------------------------------------------------------


def when(text: str) -> datetime:
    """A Trello date (`2026-12-02T10:00:00.000Z`) as an aware datetime in UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    """A check item as a card's JSON shows it."""

    id: str
    name: str
    ticked: bool


@dataclass(frozen=True)
class Checklist:
    id: str
    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Card:
    """A card as the worker reads it. `checklists` is None when Trello's answer left them out."""

    id: str
    name: str
    board_id: str
    list_id: str
    short_link: str
    short_url: str
    desc: str
    label_ids: tuple[str, ...]
    #: the names of the labels the card's JSON carries (Trello nests them on a card)
    label_names: tuple[str, ...]
    last_activity: datetime | None
    checklists: tuple[Checklist, ...] | None
    closed: bool = False
    due: datetime | None = None
    #: whether the due date is marked complete (the tick beside it on the card)
    due_complete: bool = False


def checklist(raw: Mapping[str, Any]) -> Checklist:
    items = raw.get("checkItems") or []
    return Checklist(
        id=str(raw["id"]),
        name=str(raw.get("name", "")),
        items=tuple(
            Item(str(item["id"]), str(item.get("name", "")), item.get("state") == "complete")
            for item in items
            if isinstance(item, dict) and "id" in item
        ),
    )


def card(raw: Mapping[str, Any]) -> Card:
    """The card in `raw` (from `GET /cards/{id}`, a board's cards, or a card just made)."""
    lists = raw.get("checklists")
    labels = raw.get("labels") or []
    activity = raw.get("dateLastActivity")
    due = raw.get("due")
    return Card(
        id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        board_id=str(raw.get("idBoard") or ""),
        list_id=str(raw.get("idList") or ""),
        short_link=str(raw.get("shortLink") or ""),
        short_url=str(raw.get("shortUrl") or ""),
        desc=str(raw.get("desc") or ""),
        label_ids=tuple(str(i) for i in raw.get("idLabels") or []),
        label_names=tuple(
            str(label["name"]) for label in labels if isinstance(label, dict) and label.get("name")
        ),
        last_activity=when(activity) if isinstance(activity, str) and activity else None,
        closed=raw.get("closed") is True,
        due=when(due) if isinstance(due, str) and due else None,
        due_complete=raw.get("dueComplete") is True,
        checklists=None
        if lists is None
        else tuple(checklist(c) for c in lists if isinstance(c, dict) and "id" in c),
    )


@dataclass(frozen=True)
class Board:
    """A board's lists, labels and members, as the rules need them."""

    id: str
    name: str
    lists: dict[str, str]  # list id -> name
    labels: dict[str, str]  # name_key(name) -> label id
    members: dict[str, str]  # username -> member id

    def label_names(self, card: Card) -> frozenset[str]:
        """The card's labels, as `name_key` gives them (by name, and by id on this board)."""
        by_id = {label_id: key for key, label_id in self.labels.items()}
        names = {name_key(name) for name in card.label_names}
        return frozenset(names | {by_id[i] for i in card.label_ids if i in by_id})

    def list_name(self, card: Card) -> str:
        return self.lists.get(card.list_id, "")


def board(
    raw: Mapping[str, Any],
    lists: Sequence[Mapping[str, Any]],
    labels: Sequence[Mapping[str, Any]],
    members: Sequence[Mapping[str, Any]],
) -> Board:
    """A board from `GET /boards/{id}` and its lists, labels and members."""
    return Board(
        id=str(raw["id"]),
        name=str(raw.get("name") or raw["id"]),
        lists={str(item["id"]): str(item.get("name", "")) for item in lists},
        labels={
            name_key(str(item["name"])): str(item["id"]) for item in labels if item.get("name")
        },
        members={str(m["username"]): str(m["id"]) for m in members if m.get("username")},
    )


@dataclass(frozen=True)
class Posted:
    """A comment on a card: who wrote it and what it says."""

    id: str
    member_id: str
    text: str


def comments(actions: Iterable[Mapping[str, Any]]) -> list[Posted]:
    """The comments among a card's actions."""
    found = []
    for action in actions:
        data = action.get("data")
        text = data.get("text") if isinstance(data, dict) else None
        if action.get("type") == "commentCard" and isinstance(text, str):
            found.append(
                Posted(str(action.get("id", "")), str(action.get("idMemberCreator")), text)
            )
    return found


@dataclass(frozen=True)
class Attachment:
    id: str
    name: str
    url: str
    member_id: str


def attachments(raw: Iterable[Mapping[str, Any]]) -> list[Attachment]:
    return [
        Attachment(
            str(a.get("id", "")),
            str(a.get("name") or ""),
            str(a.get("url") or ""),
            str(a.get("idMember") or ""),
        )
        for a in raw
    ]


@dataclass(frozen=True)
class LabelledAt:
    """Who put a label on, and when, read off a card's history."""

    index: int  # where in the history
    member_id: str
    username: str
    at: datetime


def last_labelled(history: Sequence[Mapping[str, Any]], label: str) -> LabelledAt | None:
    """The last time `label` was put on the card, in its history (oldest first).

    A card that arrived with its labels (created with them, copied, moved in, converted from a
    check item, e-mailed) has no action of the label's own: then it is when the card arrived.
    """
    found = arrived = None
    for index, action in enumerate(history):
        kind = action.get("type")
        if kind == "addLabelToCard":
            data = action.get("data")
            named = data.get("label") if isinstance(data, dict) else None
            name = named.get("name", "") if isinstance(named, dict) else ""
            if isinstance(name, str) and same_name(name, label):
                found = _labelled_at(index, action) or found
        elif kind in ARRIVALS:
            arrived = _labelled_at(index, action) or arrived
    return found or arrived


def _labelled_at(index: int, action: Mapping[str, Any]) -> LabelledAt | None:
    date = action.get("date")
    if not isinstance(date, str):
        return None
    creator = action.get("memberCreator")
    username = creator.get("username", "") if isinstance(creator, dict) else ""
    return LabelledAt(index, str(action.get("idMemberCreator", "")), username, when(date))


@dataclass(frozen=True)
class Named:
    """Anything of Trello's with an id and a name: a list, a checklist just made, a member."""

    id: str
    name: str


def named(raw: Mapping[str, Any], name_field: str = "name") -> Named:
    return Named(str(raw["id"]), str(raw.get(name_field) or ""))


@dataclass(frozen=True)
class ActionRef:
    """Where an action stands in its board's feed: its id and date, as Trello wrote them, and
    the card it is on ("" for an action on the board itself)."""

    id: str
    date: str
    board_id: str
    card_id: str = ""


def action_ref(raw: Mapping[str, Any]) -> ActionRef | None:
    """The action's id, date, board and card; None when it has no id or date (it is skipped)."""
    action_id, date = raw.get("id"), raw.get("date")
    if not isinstance(action_id, str) or not isinstance(date, str):
        return None
    data = raw.get("data")
    board = data.get("board") if isinstance(data, dict) else None
    board_id = board.get("id") if isinstance(board, dict) else None
    card = data.get("card") if isinstance(data, dict) else None
    card_id = card.get("id") if isinstance(card, dict) else None
    return ActionRef(
        action_id,
        date,
        board_id if isinstance(board_id, str) else "",
        card_id if isinstance(card_id, str) else "",
    )


def id_of(raw: Mapping[str, Any]) -> str:
    """The id of what Trello answered with ("" when it sent none)."""
    found = raw.get("id")
    return found if isinstance(found, str) else ""
