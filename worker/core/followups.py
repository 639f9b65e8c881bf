"""Follow-ups: the post mortem's actions, each a card of its own that outlives the incident.

Purely computational, no side effects; the caller performs the effects and makes the cards.

- The template marks one post-mortem checklist as the follow-ups (`followups=yes`). Each item
  on an incident's card in that checklist, unticked when first seen, becomes a follow-up
  (`found`): its owner is the first board member the item @mentions, else the lead (else
  whoever declared); it is due `Policy.followup_days` business days after it is found.
- A follow-up is done when its item is ticked on the incident card, or when its card is done:
  the due date marked complete, moved to a resolved list, or archived (`compare`). Done on
  one side, it is completed on the other: the card's due date marked complete, or the item
  ticked. A deleted card ends it without ticking anything.
- Until then its owner is reminded on its card (`reminders`): one business day before it is
  due, when it is due, and each week (five business days) it is late; only the latest of
  these when the worker was away, each once (its key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.core.bounds import NAME_MAX
from worker.core.business_days import add_business_days, business_days_since, previous_business_day
from worker.core.keys import followup_marker
from worker.core.model import (
    Comment,
    Effect,
    Ended,
    FollowUp,
    Incident,
    Policy,
    RefreshHeader,
    SetDue,
    TickItem,
    mention,
)
from worker.core.quoting import plain, quote
from worker.core.trello_json import Checklist
from worker.template import NESTED_PREFIX

#: Business days between two reminders about a late follow-up.
LATE_EVERY = 5

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_]{0,99})")


@dataclass(frozen=True)
class CardSide:
    """A follow-up's card as last read: its list, whether archived, its due date's tick;
    `gone` when it was deleted."""

    list_name: str = ""
    closed: bool = False
    due_complete: bool = False
    gone: bool = False


def checklist_of(
    incident: Incident, on_card: Sequence[Checklist], policy: Policy
) -> Checklist | None:
    """The follow-ups checklist on the incident's card, if the template has one and the worker
    put it there."""
    wanted = policy.template.followups
    checklist_id = incident.checklists.get(wanted.name) if wanted is not None else None
    return next((c for c in on_card if c.id == checklist_id), None)


def owner_of(text: str, incident: Incident, members: Mapping[str, str]) -> str:
    """The first board member `text` @mentions (usernames compare without case), else the
    lead, else whoever declared the incident."""
    known = {name.casefold(): name for name in members}
    for name in _MENTION.findall(text):
        if name.casefold() in known:
            return known[name.casefold()]
    return incident.lead or incident.declared_by


def found(
    incident: Incident,
    checklist: Checklist,
    now: datetime,
    policy: Policy,
    *,
    board_id: str,
    members: Mapping[str, str],
) -> list[FollowUp]:
    """The follow-ups the checklist's items call for that the incident has not got yet.

    An item ticked before the worker saw it needs no card. `board_id`: where the cards go.
    """
    new = []
    for item in checklist.items:
        if item.id in incident.followups or item.ticked:
            continue
        name = item.name
        while name.startswith(NESTED_PREFIX):
            name = name.removeprefix(NESTED_PREFIX)
        new.append(
            FollowUp(
                item_id=item.id,
                name=name,
                owner=owner_of(name, incident, members),
                board_id=board_id,
                made_at=now,
                due=add_business_days(now, policy.followup_days, policy.timezone),
            )
        )
    return new


def card_text(incident: Incident, followup: FollowUp, incident_url: str) -> tuple[str, str]:
    """The follow-up card's name and description: what to do, where it came from, how it ends."""
    description = "\n".join(
        [
            f"A follow-up from the post mortem of [{quote(incident.name, 200)}]({incident_url}), "
            f"owned by {mention(followup.owner)}.",
            "",
            "Done when the due date is marked complete, the card is moved to a resolved list or "
            "archived, or its item is ticked on the incident card; each side completes the "
            "other.",
            "",
            f"`{followup_marker(followup.item_id)}`",
        ]
    )
    return plain(followup.name, NAME_MAX), description


def compare(
    incident: Incident,
    followup: FollowUp,
    *,
    ticked: bool | None,
    side: CardSide | None,
    now: datetime,
    policy: Policy,
) -> tuple[FollowUp, list[Effect]]:
    """Whether the follow-up is done now, and what completes the other side.

    `ticked`: its item on the incident card (None: not seen now, or no longer there); `side`:
    its card (None: not seen now). Nothing is concluded from a card not seen; an item not seen
    is ticked if the card still has it (the doer looks), unless the incident card was deleted.
    """
    if not followup.open or not followup.card_id:
        return followup, []
    how = ""
    effects: list[Effect] = []
    if ticked:
        how = "ticked on the incident card"
        if side is None or not (side.gone or side.closed or side.due_complete):
            effects.append(SetDue(followup.card_id, followup.due, complete=True))
    elif side is not None and side.gone:
        how = "its card was deleted"
    elif side is not None and (
        side.closed or side.due_complete or policy.is_resolved_list(side.list_name)
    ):
        if side.closed:
            how = "archived"
        elif side.due_complete:
            how = "marked complete"
        else:
            how = f"moved to {side.list_name}"
        if not ticked and incident.ended is not Ended.DELETED:  # unseen: the doer looks
            effects.append(TickItem(incident.card_id, item_id=followup.item_id))
    if not how:
        return followup, []
    done = followup.model_copy(update={"done_at": now, "done_how": how})
    return done, [*effects, RefreshHeader(incident.card_id)]


def reminders(
    incident: Incident, followup: FollowUp, now: datetime, policy: Policy
) -> list[Comment]:
    """The reminder due at `now` on the follow-up's card, if any (see the module docstring)."""
    if not followup.open or not followup.card_id:
        return []
    tz = policy.timezone
    when = followup.due.astimezone(tz).strftime("%a %d %b %H:%M %Z")
    owner = mention(followup.owner)
    about = f"this follow-up from the incident {quote(incident.name, 200)}"
    if now >= followup.due:
        weeks = business_days_since(followup.due, now, tz) // LATE_EVERY
        if weeks == 0:
            key, text = "due", f"{owner}: {about} is due now ({when})."
        else:
            key = f"late-{weeks}"
            text = (
                f"{owner}: {about} was due {when}, {weeks * LATE_EVERY} business days ago. "
                "Mark the due date complete when it is done, or move the card to a resolved list."
            )
    elif now >= previous_business_day(followup.due, tz):
        key, text = "eve", f"{owner}: {about} is due by {when}."
    else:
        return []
    return [Comment(followup.card_id, f"fu-{followup.item_id}-{key}", text)]


def state(followup: FollowUp, now: datetime) -> str:
    """How a follow-up stands, in a word or two: done (how), late, open."""
    if not followup.open:
        return f"done ({followup.done_how})"
    return "late" if now >= followup.due else "open"
