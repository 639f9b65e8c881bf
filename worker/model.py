"""The plain data the rules, the store and the runner share: incidents and actions.

An `Incident` is the worker's memory of one labelled card: its phase and when each phase
began, the roles, the communication items on the card and whether they are ticked. It is a
frozen pydantic model, so the store keeps it as JSON and the rules return changed copies.

An `Action` is something the worker should do to Trello. The rules only describe actions;
the runner performs them and the store records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from worker.template import Moment
from worker.template import Phase as TemplatePhase


class Phase(StrEnum):
    """Where an incident stands. Each phase has a communication moment (see `MOMENT_OF`)."""

    INVESTIGATING = "investigating"
    WORKAROUND = "workaround"
    RESOLVED = "resolved"

    @property
    def rank(self) -> int:
        return list(Phase).index(self)


MOMENT_OF: dict[Phase, Moment] = {
    Phase.INVESTIGATING: Moment.DETECTION,
    Phase.WORKAROUND: Moment.WORKAROUND,
    Phase.RESOLVED: Moment.RESOLUTION,
}


class Ended(StrEnum):
    """Why the worker stopped looking after an incident."""

    STOOD_DOWN = "stood down"
    ARCHIVED = "archived"
    DELETED = "deleted"


class CommItem(BaseModel):
    """A communication check item as it stands on the card."""

    model_config = ConfigDict(frozen=True)

    checklist_id: str
    item_id: str
    name: str
    ticked: bool = False
    gone: bool = False


class Incident(BaseModel):
    """The worker's record of one incident card."""

    model_config = ConfigDict(frozen=True)

    card_id: str
    board_id: str
    name: str
    short_link: str = ""
    declared_at: datetime
    declared_by: str  # username of whoever declared it (added the label)
    template_version: str
    phase: Phase = Phase.INVESTIGATING
    phase_started: dict[Phase, datetime] = {}
    lead: str | None = None
    communicator: str | None = None
    delvers: tuple[str, ...] = ()
    quickfixers: tuple[str, ...] = ()
    last_human_comment_at: datetime | None = None
    #: checklist name -> id of the checklist the worker put on the card
    checklists: dict[str, str] = {}
    #: checklist names the worker added and a person later removed: never re-added
    removed_checklists: tuple[str, ...] = ()
    comm_items: dict[Moment, CommItem] = {}
    ended: Ended | None = None
    ended_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.ended is None

    @property
    def addressee(self) -> str:
        """Who communication reminders go to: the communicator, else the lead."""
        return self.communicator or self.lead or self.declared_by

    def reached(self, phase: Phase) -> bool:
        return phase in self.phase_started


@dataclass(frozen=True)
class Comment:
    """Post a comment. `key` makes it exactly-once: (card, kind, sequence)."""

    card_id: str
    key: str
    text: str


@dataclass(frozen=True)
class AddChecklists:
    """Copy the template's checklists for `phase` onto the card (those not yet there)."""

    card_id: str
    phase: TemplatePhase


@dataclass(frozen=True)
class AddMembers:
    """Add these people (usernames) to the card."""

    card_id: str
    usernames: tuple[str, ...]


@dataclass(frozen=True)
class RefreshHeader:
    """Rewrite the card's status header if it no longer matches the incident."""

    card_id: str


Action = Comment | AddChecklists | AddMembers | RefreshHeader


@dataclass(frozen=True)
class CardView:
    """What a reconcile pass reads off a card: the level the incident is compared against."""

    card_id: str
    labels: frozenset[str]  # label names, casefolded
    list_name: str
    checklist_ids: frozenset[str]
