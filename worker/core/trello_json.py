"""Trello actions (from the board feed or a webhook) as typed events.

`parse_action` reads one action's JSON and returns the event it means, or None for actions
the worker has no use for. An action whose shape is not what Trello sends raises
`UnexpectedAction`; the runner logs it and moves on, so one odd action never stops the loop.

Trello records a label change twice (`addLabelToCard`, then an `updateCard` with
`old.idLabels`); only the first becomes an event. An `updateCard` is a move only when it has
`listBefore`/`listAfter`, an archive only when it has `old.closed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


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
    if kind == "createCard":
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
