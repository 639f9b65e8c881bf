"""Status updates: `/update <text>`, the next one it promises, and the nudge when it is late.

`/update Payments fail over to the backup; next update 15:30` records the latest update (who,
when, what: quoted wherever it is shown) and, when the text promises one, when the next is
due: `next update 15:30` (the next 15:30 in the team's time zone) or `next in 30m` (`1h`,
`1h30m`). A promise missed gets one nudge naming the lead and the communicator; without a
promise, the usual status-update reminders apply. Pure.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from worker.core.aftercare import local_time
from worker.core.durations import length
from worker.core.model import (
    Comment,
    Decision,
    Effect,
    Incident,
    Phase,
    Policy,
    RefreshHeader,
    mention,
)

_AT = re.compile(r"\bnext(?:\s+update)?\s+(?:at\s+|by\s+)?(\d{1,2})[:.](\d{2})\b", re.I)
_IN = re.compile(
    r"\bnext(?:\s+update)?\s+in\s+(\d{1,3}\s*h(?:\s*\d{1,4}\s*m(?:in)?)?|\d{1,4}\s*m(?:in)?)\b",
    re.I,
)


def promised(text: str, at: datetime, policy: Policy) -> datetime | None:
    """When the next update is promised in `text` written at `at`, or None."""
    found = _IN.search(text)
    if found:
        span = length(found[1].replace(" ", ""))
        return at + span if span else None
    found = _AT.search(text)
    if found:
        hour, minute = int(found[1]), int(found[2])
        if hour > 23 or minute > 59:
            return None
        local = at.astimezone(policy.timezone)
        due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due <= local:
            due += timedelta(days=1)
        return due
    return None


def update(incident: Incident, text: str, by: str, at: datetime, policy: Policy) -> Decision:
    """`/update <text>`: the latest update recorded, and the next one's promise if it makes one."""
    if incident.phase in (Phase.RESOLVED, Phase.CLOSED) or not text.strip():
        return incident, []
    due = promised(text, at, policy)
    changed = incident.model_copy(
        update={
            "updates": incident.updates + 1,
            "last_update_at": at,
            "last_update_by": by,
            "last_update": text.strip(),
            "next_update_due": due,
        }
    )
    effects: list[Effect] = [RefreshHeader(incident.card_id)]
    return changed, effects


def nudges(incident: Incident, now: datetime, policy: Policy) -> list[Comment]:
    """The nudge for a promised update that has not come (one per promise)."""
    due = incident.next_update_due
    if due is None or now < due or incident.phase.rank >= Phase.RESOLVED.rank:
        return []
    who = (
        " ".join(dict.fromkeys(mention(n) for n in (incident.lead, incident.communicator) if n))
        or "Everyone"
    )
    text = (
        f"{who}: the next update was promised by {local_time(due, policy)} and has not come. "
        "How does it stand? `/update <text>` (with `next in 30m`, say)."
    )
    return [Comment(incident.card_id, f"promise-{int(due.timestamp())}", text)]
