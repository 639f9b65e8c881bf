"""The plain data the rules, the store and the shell share: incidents, effects, the policy.

An `Incident` is the worker's memory of one labelled card: its phase and when each phase
began, the roles, the communication items on the card and whether they are ticked. It is a
frozen pydantic model, so the store keeps it as JSON and the rules return changed copies.

An `Effect` is something the worker should do to Trello. The rules only describe effects;
the executor carries them out, and the store records the incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from worker.core import quoting
from worker.template import Moment, Stage, Template


class Phase(StrEnum):
    """Where an incident stands. Each phase has a communication moment (see `MOMENT_OF`)."""

    INVESTIGATING = "investigating"
    WORKAROUND = "workaround"
    RESOLVED = "resolved"
    CLOSED = "closed"  # the post mortem is done

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


class FollowUp(BaseModel):
    """An action decided at the post mortem: an item of the follow-ups checklist on the
    incident card, and the card of its own the worker made for it (`worker.core.followups`)."""

    model_config = ConfigDict(frozen=True)

    #: the check item on the incident card, and its text (people's words: quote wherever shown)
    item_id: str
    name: str
    #: who owns it (username): the first board member @mentioned in the item, else the lead
    owner: str
    #: the board its card is made on, and the card once made (empty until then)
    board_id: str
    card_id: str = ""
    url: str = ""
    made_at: datetime
    due: datetime
    done_at: datetime | None = None
    #: how it was done: "ticked on the incident card", "marked complete", "moved to Done"...
    done_how: str = ""

    @property
    def open(self) -> bool:
        return self.done_at is None


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
    #: checklist id -> item id -> ticked, for the checklists the worker added
    items: dict[str, dict[str, bool]] = {}
    #: how many times it was resolved (a re-opened incident can be resolved again)
    resolutions: int = 0
    postmortem_due: datetime | None = None
    meeting_done: bool = False
    ended: Ended | None = None
    ended_at: datetime | None = None
    #: the card the incident was declared on, when it runs on a card of its own
    source_card_id: str | None = None
    source_url: str = ""
    #: per message, how far reminders about it have escalated (1: the lead, 2: the board)
    escalated: dict[Moment, int] = {}
    #: no reminders before this (`/snooze`)
    snoozed_until: datetime | None = None
    #: the severity level's number (1 is the worst) and name; None while not set
    severity: int | None = None
    severity_name: str = ""
    #: how many times the severity was set (each announcement's key)
    severity_changes: int = 0
    #: status updates (`/update`): how many, the latest (who, when, what: people's words,
    #: quoted wherever shown) and when the next was promised
    updates: int = 0
    last_update_at: datetime | None = None
    last_update_by: str = ""
    last_update: str = ""
    next_update_due: datetime | None = None
    #: the workaround's description, as given with `/workaround <text>`
    workaround: str = ""
    #: who was told at each moment (`telling.MOMENT_NAMES`): audience -> when
    told: dict[str, dict[str, datetime]] = {}
    #: when each message was first seen told (its communication item ticked), for insights
    communicated: dict[Moment, datetime] = {}
    #: the follow-ups, by their check item's id, in the order they were found
    followups: dict[str, FollowUp] = {}

    @property
    def open(self) -> bool:
        return self.ended is None

    @property
    def addressee(self) -> str:
        """Who communication reminders go to: the communicator, else the lead."""
        return self.communicator or self.lead or self.declared_by

    def reached(self, phase: Phase) -> bool:
        return phase in self.phase_started

    @property
    def followups_open(self) -> bool:
        """Whether a follow-up is still to be done (they outlive the incident)."""
        return any(f.open for f in self.followups.values())


@dataclass(frozen=True)
class Comment:
    """Post a comment. `key` makes it exactly-once: (card, kind, sequence)."""

    card_id: str
    key: str
    text: str


@dataclass(frozen=True)
class AddChecklists:
    """Put the template's checklists for `stage` on the card.

    The rules ask for a stage; `rules.settle` names the checklists it still needs (`names`),
    and the executor copies each one that is not on the card already.
    """

    card_id: str
    stage: Stage
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddMembers:
    """Add these people (member ids) to the card."""

    card_id: str
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class SetDue:
    """Set (or, with None, clear) the card's due date; `complete` marks it done."""

    card_id: str
    due: datetime | None
    complete: bool = False


@dataclass(frozen=True)
class AttachReport:
    """Attach the post-mortem draft and its timeline picture, replacing earlier ones."""

    card_id: str


@dataclass(frozen=True)
class AttachLink:
    """Attach a link (once: not again if the card has it already)."""

    card_id: str
    url: str
    name: str


@dataclass(frozen=True)
class Send:
    """Send a message to an audience's channels (queued once, by `key`, in the outbox)."""

    card_id: str
    key: str
    audience: str
    title: str
    body: str


@dataclass(frozen=True)
class TickItem:
    """Tick a check item on the card, if it is not ticked: by its id, or by how its name starts
    (among the checklists the worker put on the card)."""

    card_id: str
    item_id: str = ""
    name_start: str = ""


@dataclass(frozen=True)
class RefreshHeader:
    """Rewrite the card's status header if it no longer matches the incident."""

    card_id: str


Effect = (
    Comment
    | AddChecklists
    | AddMembers
    | RefreshHeader
    | SetDue
    | AttachReport
    | AttachLink
    | TickItem
    | Send
)


@dataclass(frozen=True)
class CardView:
    """What a reconcile pass reads off a card: the level the incident is compared against."""

    card_id: str
    labels: frozenset[str]  # label names, as `name_key` gives them
    list_name: str
    checklist_ids: frozenset[str]
    #: checklist id -> item id -> ticked
    items: dict[str, dict[str, bool]] = field(default_factory=dict)
    #: the communication items as the card shows them (see `observe.comm_items_on_card`)
    comm_items: dict[Moment, CommItem | None] = field(default_factory=dict)


AUDIENCE = "the support team, auction houses and buyers/sellers"


@dataclass(frozen=True)
class Policy:
    """What the rules need to know besides the incident: names, cadences, the template.

    It has no defaults of its own: `worker.settings.build_policy` makes it from the settings.
    """

    template: Template
    worker_member_id: str
    incident_label: str
    workaround_label: str
    resolved_label: str
    #: the lists that mean "resolved", as `name_key` gives them
    resolved_lists: frozenset[str]
    reminder_seconds: float
    status_update_seconds: float
    role_reminder_seconds: float
    #: the longest wait between two reminders of one kind (each wait doubles the last)
    reminder_max_seconds: float
    #: unanswered reminders about one message before the lead is brought in (0: never)
    escalate_after: int
    #: whether the step after the lead is the whole board (`@board`)
    escalate_to_board: bool
    #: whether anyone may name the roles once there is a lead (else the lead; see `rules`)
    roles_by_anyone: bool
    meeting_url: str | None
    postmortem_days: int
    #: whether `postmortem_days` counts every day (a severity level may say so), not business days
    postmortem_calendar: bool
    timezone: ZoneInfo
    postmortem_attendees: tuple[str, ...]
    postmortem_facilitator: str | None
    template_url: str | None
    #: the board where incidents get a card of their own (None: on the labelled card itself)
    incident_board_id: str | None
    #: business days from a follow-up's card being made to its due date
    followup_days: int
    #: the audiences with channels of their own (`INCIDENT_CHANNELS`): `/tell` sends to them
    channels: frozenset[str] = frozenset()
    #: the audiences told automatically at declaration and at resolution (`INCIDENT_ANNOUNCE`)
    announce: tuple[str, ...] = ()

    def is_resolved_list(self, name: str) -> bool:
        return name_key(name) in self.resolved_lists


def name_key(name: str) -> str:
    """How label and list names compare: Trello keeps what people type, " Incident " too."""
    return name.strip().casefold()


def same_name(a: str, b: str) -> bool:
    return name_key(a) == name_key(b)


#: What a deciding function returns: the incident as it now stands, and what to do.
Decision = tuple[Incident, list[Effect]]


mention = quoting.mention
