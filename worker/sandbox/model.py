"""The sandbox's records: plain mutable dataclasses for what a Trello board holds.

Members, boards, lists, labels, cards, checklists with their check items, attachments,
actions and webhooks. They carry no behaviour beyond a few derived values; `store.Store` holds
them, the writes (`state.SandboxState` puts them together) change them under its lock, and
`render` turns them into Trello's JSON.

Ids are made like Trello's (MongoDB ObjectIds): 24 hex digits whose first 8 are the creation
time in unix seconds, then a per-process random part and a counter, so ids sort by creation.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")
SHORT_LINK_ALPHABET = string.ascii_letters + string.digits


def utc_now() -> datetime:
    """The default clock: the current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`moment` as Trello writes dates: UTC, milliseconds and a `Z`."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_id(value: str) -> bool:
    """True when `value` looks like a Trello id (24 lowercase hex digits)."""
    return bool(ID_PATTERN.match(value))


class IdFactory:
    """Makes ObjectId-style ids from a clock; thread-safe, and ids never repeat."""

    def __init__(self, clock: Callable[[], datetime], *, in_order: bool = True):
        """`in_order=False`: ids made within one second run backwards, as recorded Trello feeds
        show can happen (a later action with a smaller id)."""
        self._clock = clock
        self._step = 1 if in_order else -1
        self._machine = secrets.randbits(40)
        self._counter = secrets.randbits(16)
        self._lock = threading.Lock()
        self._short_links: set[str] = set()

    def new_id(self) -> str:
        with self._lock:
            self._counter = (self._counter + self._step) % (1 << 24)
            seconds = int(self._clock().timestamp())
            return f"{seconds:08x}{self._machine:010x}{self._counter:06x}"

    def new_short_link(self) -> str:
        with self._lock:
            while True:
                link = "".join(secrets.choice(SHORT_LINK_ALPHABET) for _ in range(8))
                if link not in self._short_links:
                    self._short_links.add(link)
                    return link


def slug(name: str) -> str:
    """The URL tail Trello derives from a name: lowercase words joined by dashes."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:128] or "untitled"


@dataclass
class Member:
    id: str
    username: str
    full_name: str
    token: str

    @property
    def initials(self) -> str:
        return "".join(part[0].upper() for part in self.full_name.split()[:3]) or "?"


@dataclass
class Board:
    id: str
    name: str
    short_link: str
    member_ids: list[str]
    desc: str = ""
    closed: bool = False
    next_id_short: int = 1


@dataclass
class TrelloList:
    id: str
    board_id: str
    name: str
    pos: float
    closed: bool = False


@dataclass
class Label:
    id: str
    board_id: str
    name: str
    color: str | None


@dataclass
class CheckItem:
    id: str
    checklist_id: str
    name: str
    pos: float
    state: str = "incomplete"
    due: str | None = None
    id_member: str | None = None


@dataclass
class Checklist:
    id: str
    board_id: str
    card_id: str
    name: str
    pos: float
    items: list[CheckItem] = field(default_factory=list)


@dataclass
class Attachment:
    id: str
    card_id: str
    name: str
    url: str | None
    date: datetime
    member_id: str
    mime_type: str | None = None
    content: bytes | None = None
    file_name: str = ""

    @property
    def is_upload(self) -> bool:
        return self.content is not None


@dataclass
class Card:
    id: str
    board_id: str
    list_id: str
    name: str
    id_short: int
    short_link: str
    pos: float
    date_last_activity: datetime
    desc: str = ""
    closed: bool = False
    due: str | None = None
    due_complete: bool = False
    start: str | None = None
    label_ids: list[str] = field(default_factory=list)
    member_ids: list[str] = field(default_factory=list)
    checklist_ids: list[str] = field(default_factory=list)
    attachment_ids: list[str] = field(default_factory=list)


@dataclass
class Action:
    """One entry of the activity feed. `data` is stored exactly as Trello returns it."""

    id: str
    type: str
    member_id: str
    date: datetime
    data: dict[str, Any]
    board_id: str
    card_id: str | None = None
    #: the member an addMemberToCard/removeMemberFromCard is about (a top-level `member` key)
    subject_member_id: str | None = None


@dataclass
class Webhook:
    """A webhook: `token` owns it; actions on `id_model` (a board or a card) are POSTed to
    `callback_url`. Failed deliveries (after their retries) count up `consecutive_failures`.
    """

    id: str
    token: str
    member_id: str
    id_model: str
    callback_url: str
    description: str = ""
    active: bool = True
    consecutive_failures: int = 0
    first_consecutive_fail_date: datetime | None = None
