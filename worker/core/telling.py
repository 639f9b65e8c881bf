"""Telling people: the messages ready to send, and `/tell` recording who was told. Pure.

At each communication moment (noticed, workaround, resolved) every audience of the template
(`messages`) has a message, filled from the incident: ready to copy, in every ask and reminder
to communicate, until that audience is told. `/tell <audience> [text]` records that it was
told, with the text sent (the filled message when none is given); `/tell all` tells every
audience. The audience's check item is ticked on the teller's behalf, and once every audience
was told at a moment, the moment's item too, which stops its reminders. Purely computational:
the caller ticks the items (`TickItem`) and posts the receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from worker.core import severity
from worker.core.aftercare import local_time
from worker.core.model import (
    Comment,
    Decision,
    Effect,
    Incident,
    Phase,
    Policy,
    RefreshHeader,
    Send,
    TickItem,
    mention,
)
from worker.core.quoting import plain, quote
from worker.messages import Audience, fill
from worker.template import Moment

#: Each communication moment's name in the template's messages.
MOMENT_NAMES = {
    Moment.DETECTION: "noticed",
    Moment.WORKAROUND: "workaround",
    Moment.RESOLUTION: "resolved",
}


def current_moment(incident: Incident) -> Moment:
    """The moment whose message is due now: the latest phase reached."""
    if incident.reached(Phase.RESOLVED):
        return Moment.RESOLUTION
    if incident.reached(Phase.WORKAROUND):
        return Moment.WORKAROUND
    return Moment.DETECTION


def values(
    incident: Incident, policy: Policy, say: Callable[[str, int], str] = quote
) -> dict[str, str]:
    """What fills the placeholders: people's words through `say` (quoted for Trello, `plain`
    for e-mail and chat), nothing left empty."""
    level = severity.level_of(incident, policy)
    due = incident.next_update_due
    return {
        "incident": say(incident.name, 200),
        "severity": level.shown if level else "not set",
        "impact": say(level.means, 200) if level else "being assessed",
        "update": say(incident.last_update, 300) if incident.last_update else "none yet",
        "workaround": say(incident.workaround, 300) if incident.workaround else "none yet",
        "next_update": f"by {local_time(due, policy)}" if due else "soon",
        "call": policy.meeting_url or "(no call set)",
    }


def message(
    audience: Audience,
    moment: Moment,
    incident: Incident,
    policy: Policy,
    say: Callable[[str, int], str] = quote,
) -> str:
    """The audience's message for `moment`, filled (people's words through `say`)."""
    text = audience.messages.get(MOMENT_NAMES[moment])
    if text is None:
        seed = next((a for a in policy.template.to_tell if a.name == audience.name), None)
        text = seed.messages.get(MOMENT_NAMES[moment]) if seed else None
    return fill(text or "{incident}: an update.", values(incident, policy, say))


def ready(incident: Incident, moment: Moment, policy: Policy) -> str:
    """The messages not sent yet at `moment`, one quoted block per audience ("" when all are)."""
    told = incident.told.get(MOMENT_NAMES[moment], {})
    blocks = [
        f"> **{audience.name}**: {message(audience, moment, incident, policy)}"
        for audience in policy.template.to_tell
        if audience.name not in told
    ]
    if not blocks:
        return ""
    return "Ready to send (then `/tell <who>`, or `/tell all`):\n\n" + "\n\n".join(blocks)


def tell(
    incident: Incident, rest: str, by: str, at: datetime, policy: Policy, key: str
) -> Decision:
    """`/tell <audience>|all [text]`: recorded, items ticked on `by`'s behalf, a receipt
    (posted under `key`)."""
    audiences = policy.template.to_tell
    word, _, text = rest.strip().partition(" ")
    if incident.phase is Phase.CLOSED:
        return incident, [
            Comment(incident.card_id, key, "`/tell` changes nothing now: it is closed.")
        ]
    chosen: Sequence[Audience]
    if word.lower() == "all":
        chosen = audiences
    else:
        chosen = [a for a in audiences if a.name == word.lower()]
    if not chosen:
        names = ", ".join(f"`{a.name}`" for a in audiences)
        return incident, [
            Comment(incident.card_id, key, f"`/tell` takes one of {names}, or `all`.")
        ]
    moment = current_moment(incident)
    when = MOMENT_NAMES[moment]
    told = {k: dict(v) for k, v in incident.told.items()}
    now_told = told.setdefault(when, {})
    lines = []
    effects: list[Effect] = []
    for audience in chosen:
        sent = quote(text, 1000) if text.strip() else message(audience, moment, incident, policy)
        now_told.setdefault(audience.name, at)
        lines.append(f"> **{audience.name}**: {sent}")
        if audience.name in policy.channels:
            title = f"{plain(incident.name, 200)} ({when})"
            body = plain(text, 1000) if text.strip() else ""
            body = body or message(audience, moment, incident, policy, plain)
            effects.append(
                Send(incident.card_id, f"{key}-{audience.name}", audience.name, title, body)
            )
        if audience.item:
            effects.append(TickItem(incident.card_id, name_start=audience.item))
    changed = incident.model_copy(update={"told": told})
    ticked = ""
    item = changed.comm_items.get(moment)
    every = all(a.name in now_told for a in audiences)
    if every and item is not None and not item.ticked and not item.gone:
        items = {**changed.comm_items, moment: item.model_copy(update={"ticked": True})}
        changed = changed.model_copy(update={"comm_items": items})
        effects.append(TickItem(incident.card_id, item_id=item.item_id))
        ticked = f" Everyone is told ({when}): *{quote(item.name, 300)}* is ticked."
    who = ", ".join(a.name for a in chosen)
    teller = f"by {mention(by)}" if by else "automatically (INCIDENT_ANNOUNCE)"
    receipt = f"**Told** {who} ({when}), {teller}:{ticked}\n\n" + "\n\n".join(lines)
    effects += [RefreshHeader(incident.card_id), Comment(incident.card_id, key, receipt)]
    return changed, effects


def announce(incident: Incident, at: datetime, policy: Policy, key: str) -> Decision:
    """The audiences of `INCIDENT_ANNOUNCE` told now, as `/tell` would (`key`: the receipt's)."""
    effects: list[Effect] = []
    for name in policy.announce:
        incident, more = tell(incident, name, "", at, policy, f"{key}-{name}")
        effects += more
    return incident, effects
