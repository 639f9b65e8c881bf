"""After resolution: the post mortem's deadline and reminders, closing, and re-opening.

Pure decisions, like `worker.core.rules` (which calls these): the incident and the time go in, the
changed incident and the effects come out.

- Resolving sets the post-mortem deadline (`postmortem_days` business days later, in the
  configured time zone), adds the resolved-phase checklists, attaches the draft and asks the
  lead to book the meeting.
- The lead is reminded one business day before the deadline, on it, and once per business day
  after it, while the post-mortem checklist (the template's first resolved-phase checklist) is
  not complete.
- The meeting checklist (the resolved-phase checklist named like an agenda or a meeting, else
  the last one) complete: the draft is refreshed.
- The post-mortem checklist complete: the incident is closed.
- Re-opening (the resolved label removed, the card moved out of a resolved list) goes back to
  the phase before, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from worker.core.business_days import add_business_days, business_days_since, previous_business_day
from worker.core.model import (
    AddChecklists,
    AttachReport,
    Comment,
    Decision,
    Effect,
    Incident,
    Phase,
    Policy,
    RefreshHeader,
    SetDue,
    mention,
)
from worker.template import Moment, Stage


def _numbered(key: str, incident: Incident) -> str:
    """`key` for the incident's n-th resolution (plain for the first, so keys stay short)."""
    return key if incident.resolutions <= 1 else f"{key}-r{incident.resolutions}"


def postmortem_checklist(policy: Policy) -> str | None:
    resolved = policy.template.for_stage(Stage.RESOLVED)
    return resolved[0].name if resolved else None


def meeting_checklist(policy: Policy) -> str | None:
    resolved = policy.template.for_stage(Stage.RESOLVED)
    for checklist in resolved:
        name = checklist.name.casefold()
        if "agenda" in name or "meeting" in name:
            return checklist.name
    return resolved[-1].name if resolved else None


def _complete(incident: Incident, name: str | None) -> bool:
    checklist_id = incident.checklists.get(name or "")
    items = incident.items.get(checklist_id or "") or {}
    return bool(items) and all(items.values())


def local_time(moment: datetime, policy: Policy) -> str:
    return moment.astimezone(policy.timezone).strftime("%a %d %b %H:%M %Z")


def facilitator(incident: Incident, policy: Policy) -> str | None:
    """Who should run the meeting: the configured facilitator, else someone besides the lead."""
    if policy.postmortem_facilitator:
        return policy.postmortem_facilitator
    if incident.communicator and incident.communicator != incident.lead:
        return incident.communicator
    return incident.lead


def on_resolved(
    incident: Incident, at: datetime, policy: Policy, postmortem: bool = True
) -> Decision:
    """Resolution's follow-up: the deadline, the checklists, the draft and the booking request.

    `postmortem`: False when the incident's severity level needs none: the draft is attached,
    and the incident closes once the resolution is told (`progress`)."""
    if not postmortem:
        incident = incident.model_copy(update={"resolutions": incident.resolutions + 1})
        text = (
            "**No post mortem** at this severity: the draft (timeline and metrics) is attached; "
            "the incident closes once the resolution is told."
        )
        return incident, [
            AttachReport(incident.card_id),
            Comment(incident.card_id, _numbered("no-postmortem", incident), text),
        ]
    if policy.postmortem_calendar:
        due = at + timedelta(days=policy.postmortem_days)
    else:
        due = add_business_days(at, policy.postmortem_days, policy.timezone)
    incident = incident.model_copy(
        update={
            "resolutions": incident.resolutions + 1,
            "postmortem_due": due,
            "meeting_done": False,
        }
    )
    attendees = ", ".join(mention(name) for name in policy.postmortem_attendees)
    lines = [
        f"**Post mortem**: {mention(incident.lead)}, please book the post-mortem meeting "
        f"before {local_time(due, policy)} (the card's due date).",
    ]
    if attendees:
        lines.append(f"Invite {attendees}, so we can decide what resources to allocate.")
    lines.append(
        f"{mention(facilitator(incident, policy))} facilitates, to keep the discussion on track."
    )
    lines.append("The draft (timeline and metrics from this card's history) is attached.")
    effects: list[Effect] = [
        AddChecklists(incident.card_id, Stage.RESOLVED),
        SetDue(incident.card_id, due),
        AttachReport(incident.card_id),
        Comment(incident.card_id, _numbered("postmortem", incident), "\n".join(lines)),
    ]
    return incident, effects


def reopen(incident: Incident, at: datetime, by: str, why: str) -> Decision:
    """Back to the phase before resolution; the deadline goes."""
    if incident.phase not in (Phase.RESOLVED, Phase.CLOSED):
        return incident, []
    back = Phase.WORKAROUND if incident.reached(Phase.WORKAROUND) else Phase.INVESTIGATING
    started = {
        phase: when
        for phase, when in incident.phase_started.items()
        if phase not in (Phase.RESOLVED, Phase.CLOSED)
    }
    escalated = {m: n for m, n in incident.escalated.items() if m is not Moment.RESOLUTION}
    incident = incident.model_copy(
        update={
            "phase": back,
            "phase_started": started,
            "postmortem_due": None,
            "escalated": escalated,
        }
    )
    text = f"**Re-opened** by {mention(by)} ({why}): back to *{back.value}*."
    return incident, [
        RefreshHeader(incident.card_id),
        SetDue(incident.card_id, None),
        Comment(incident.card_id, _numbered("reopened", incident), text),
    ]


def observe_items(incident: Incident, items: Mapping[str, Mapping[str, bool]]) -> Incident:
    """Fold in the tick state of the worker's checklists as the card shows them."""
    ours = set(incident.checklists.values())
    seen = {cid: dict(states) for cid, states in items.items() if cid in ours}
    merged = {**incident.items, **seen}
    if merged == incident.items:
        return incident
    return incident.model_copy(update={"items": merged})


def tick_item(incident: Incident, checklist_id: str, item_id: str, complete: bool) -> Incident:
    states = incident.items.get(checklist_id)
    if states is None or states.get(item_id) == complete:
        return incident
    items = {**incident.items, checklist_id: {**states, item_id: complete}}
    return incident.model_copy(update={"items": items})


def progress(incident: Incident, at: datetime, policy: Policy) -> Decision:
    """Refresh the draft when the meeting is done; close when the post mortem is complete."""
    if incident.phase is not Phase.RESOLVED:
        return incident, []
    effects: list[Effect] = []
    if not incident.meeting_done and _complete(incident, meeting_checklist(policy)):
        incident = incident.model_copy(update={"meeting_done": True})
        effects.append(AttachReport(incident.card_id))
    told = incident.comm_items.get(Moment.RESOLUTION)
    none_needed = incident.postmortem_due is None and (told is None or told.ticked or told.gone)
    if _complete(incident, postmortem_checklist(policy)) or none_needed:
        started = {**incident.phase_started, Phase.CLOSED: at}
        incident = incident.model_copy(update={"phase": Phase.CLOSED, "phase_started": started})
        learnings = (
            f"Learnings belong in the template, so the next incident gets them: "
            f"{policy.template_url}"
            if policy.template_url
            else "Learnings belong in the incident template, so the next incident gets them."
        )
        done = (
            "The resolution is told, and this severity needs no post mortem."
            if none_needed
            else "The post mortem is done: thank you, everyone."
        )
        effects += [RefreshHeader(incident.card_id)]
        if incident.postmortem_due is not None:
            effects.append(SetDue(incident.card_id, incident.postmortem_due, complete=True))
        effects += [
            AttachReport(incident.card_id),  # the last draft on the card matches the card
            Comment(
                incident.card_id, _numbered("closed", incident), f"**Closed.** {done} {learnings}"
            ),
        ]
    return incident, effects


def postmortem_reminders(incident: Incident, now: datetime, policy: Policy) -> list[Comment]:
    """The lead's post-mortem reminders due at `now` (one key per business day)."""
    due = incident.postmortem_due
    if incident.phase is not Phase.RESOLVED or due is None:
        return []
    if _complete(incident, postmortem_checklist(policy)):
        return []
    lead = mention(incident.lead)
    when = local_time(due, policy)
    if now >= due:
        late = business_days_since(due, now, policy.timezone)
        if late == 0:
            key, text = "pm-due", f"{lead}: the post mortem is due now ({when})."
        else:
            days = "business day" if late == 1 else "business days"
            key = f"pm-late-{late}"
            text = f"{lead}: the post mortem was due {when}, {late} {days} ago. Is it booked?"
    elif now >= previous_business_day(due, policy.timezone):
        key, text = "pm-eve", f"{lead}: the post mortem is due by {when}. Is the meeting booked?"
    else:
        return []
    return [Comment(incident.card_id, _numbered(key, incident), text)]
