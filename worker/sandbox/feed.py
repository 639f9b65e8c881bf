"""The actions feed query: Trello's `filter`, `since`, `before`, `limit` and `page` (pure).

`GET /boards/{id}/actions` and `GET /cards/{id}/actions` both come here with the matching
actions oldest first; the answer is newest first. `since` and `before` are exclusive bounds
that take an action id (ids sort by creation) or an ISO date. A filter entry is an action type
(`commentCard`) or a type with the field it changed (`updateCard:idList`), or `all`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.sandbox.model import Action, is_id

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
BOARD_DEFAULT_FILTER = "all"
CARD_DEFAULT_FILTER = "commentCard,updateCard:idList"


class FeedQueryError(ValueError):
    """A feed parameter Trello would refuse; the message is the 400 body."""


@dataclass(frozen=True)
class Bound:
    """An exclusive bound: an action id or a moment."""

    action_id: str | None = None
    moment: datetime | None = None

    def before(self, action: Action) -> bool:
        """True when `action` is older than this bound."""
        if self.action_id is not None:
            return action.id < self.action_id
        assert self.moment is not None
        return action.date < self.moment

    def after(self, action: Action) -> bool:
        """True when `action` is newer than this bound."""
        if self.action_id is not None:
            return action.id > self.action_id
        assert self.moment is not None
        return action.date > self.moment


def parse_bound(name: str, value: str) -> Bound:
    """`since`/`before` as given: an action id or an ISO date (naive means UTC)."""
    value = value.strip()
    if is_id(value):
        return Bound(action_id=value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedQueryError(f"invalid value for {name}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Bound(moment=moment)


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise FeedQueryError("invalid value for limit") from None
    if limit < 0 or limit > MAX_LIMIT:
        raise FeedQueryError("invalid value for limit")
    return limit


def parse_page(value: str | None) -> int:
    if value is None or value == "":
        return 0
    try:
        page = int(value)
    except ValueError:
        raise FeedQueryError("invalid value for page") from None
    if page < 0:
        raise FeedQueryError("invalid value for page")
    return page


def matches(action: Action, entries: frozenset[str]) -> bool:
    """True when `action` passes a parsed filter (`entries` empty means `all`)."""
    if not entries:
        return True
    if action.type in entries:
        return True
    old = action.data.get("old")
    if isinstance(old, dict):
        return any(f"{action.type}:{changed}" in entries for changed in old)
    return False


def parse_filter(value: str | None, default: str) -> frozenset[str]:
    text = default if value is None or value.strip() == "" else value
    entries = frozenset(part.strip() for part in text.split(",") if part.strip())
    if "all" in entries:
        return frozenset()
    return entries


def select(
    actions: Sequence[Action],
    *,
    filter_value: str | None,
    default_filter: str,
    since: str | None,
    before: str | None,
    limit: str | None,
    page: str | None,
) -> list[Action]:
    """The page of `actions` (oldest first) that the query asks for, newest first."""
    entries = parse_filter(filter_value, default_filter)
    since_bound = parse_bound("since", since) if since else None
    before_bound = parse_bound("before", before) if before else None
    count = parse_limit(limit)
    first = parse_page(page) * count
    chosen = [
        action
        for action in reversed(actions)
        if matches(action, entries)
        and (since_bound is None or since_bound.after(action))
        and (before_bound is None or before_bound.before(action))
    ]
    return chosen[first : first + count]
