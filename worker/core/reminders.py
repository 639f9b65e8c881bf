"""Reminders: which are due, what they say, when they escalate, and `/snooze`. Pure.

Reminders are sequences. The first reminder about a message is due one cadence after the
message became due (its phase began); each wait after that is twice the last, up to
`Policy.reminder_max_seconds`. The n-th reminder's key names n, so it is sent once however many
cycles (or replicas) ask, and a worker that was down for three reminders' time sends only the
one due now, not the three it missed.

Escalation. Every `Policy.escalate_after`-th unanswered reminder about a message brings in one
more person, once: first the lead (unless the lead is the one reminded), then `@board` when the
template says `escalate_to_board: true`. The incident records how far each message escalated,
so a later reminder does not call them again, and one skipped (the worker was down, reminders
were snoozed) still escalates at the next reminder that is due.

`/snooze 30m` holds every reminder of the incident but the post mortem's until then; the ones
due meanwhile are not made up for: the next one due is sent when the snooze ends.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from worker.core import aftercare, durations, severity, telling, updates
from worker.core.model import (
    AUDIENCE,
    MOMENT_OF,
    Comment,
    Incident,
    Phase,
    Policy,
    mention,
)
from worker.core.quoting import quote
from worker.template import Moment

#: The longest snooze (`/snooze 12h`).
MAX_SNOOZE = timedelta(hours=12)


def addressee(incident: Incident) -> str:
    """Who is asked to communicate: the communicator, else the lead, else say who should."""
    if incident.addressee:
        return mention(incident.addressee)
    return "Whoever communicates (name them with `/communicator @user`)"


def count(elapsed: float, first: float, ceiling: float) -> int:
    """How many reminders are due `elapsed` seconds after a message became due: the first after
    `first` seconds, each wait after it twice the last, up to `ceiling` (or `first`, if more)."""
    n, at, wait = 0, 0.0, first
    while wait < ceiling:
        if at + wait > elapsed:
            return n
        at, n, wait = at + wait, n + 1, wait * 2
    wait = max(ceiling, first)
    return n + max(0, int((elapsed - at) // wait))


def next_after(elapsed: float, first: float, ceiling: float) -> float:
    """When the next reminder falls due, in seconds after the message became due, once
    `elapsed` seconds have passed (the same waits as `count`)."""
    at, wait = 0.0, first
    while wait < ceiling:
        if at + wait > elapsed:
            return at + wait
        at, wait = at + wait, wait * 2
    wait = max(ceiling, first)
    return at + (int((elapsed - at) // wait) + 1) * wait


def next_at(incident: Incident, now: datetime, policy: Policy) -> datetime | None:
    """When the next communication, role or status reminder falls due after `now` (None: none
    will, as things stand); the post mortem's are not counted."""
    if not incident.open or incident.phase is Phase.CLOSED:
        return None
    policy = severity.at_level(policy, incident)
    ceiling = policy.reminder_max_seconds

    def after(start: datetime, first: float) -> datetime:
        elapsed = max(0.0, (now - start).total_seconds())
        return start + timedelta(seconds=next_after(elapsed, first, ceiling))

    times = []
    for phase, started in incident.phase_started.items():
        moment = MOMENT_OF.get(phase)
        item = incident.comm_items.get(moment) if moment else None
        if moment is None or item is None or item.ticked or item.gone:
            continue
        if incident.reached(Phase.RESOLVED) and moment is not Moment.RESOLUTION:
            continue
        times.append(after(started, policy.reminder_seconds))
    if incident.lead is None or incident.communicator is None:
        times.append(after(incident.declared_at, policy.role_reminder_seconds))
    if incident.phase.rank < Phase.RESOLVED.rank:
        promise = incident.next_update_due
        if promise is not None and now < promise:
            times.append(promise)
        else:
            since = max(
                incident.declared_at, incident.last_human_comment_at or incident.declared_at
            )
            since = max(since, promise or since)
            times.append(after(since, policy.status_update_seconds))
    if incident.snoozed_until is not None and now < incident.snoozed_until:
        times = [max(t, incident.snoozed_until) for t in times]
    return min(times, default=None)


def _count_since(start: datetime, now: datetime, first: float, policy: Policy) -> int:
    return count((now - start).total_seconds(), first, policy.reminder_max_seconds)


def escalation(incident: Incident, policy: Policy) -> tuple[str, ...]:
    """Who reminders are escalated to, in turn: the lead (unless reminded already), the board."""
    steps = []
    if incident.lead and incident.lead != incident.addressee:
        steps.append(f"{mention(incident.lead)} (lead)")
    if policy.escalate_to_board:
        steps.append("@board")
    return tuple(steps)


def due(incident: Incident, now: datetime, policy: Policy) -> tuple[Incident, list[Comment]]:
    """The reminders due at `now`, and the incident with the escalations they make.

    Keys repeat until the next reminder is due, so asking again (another cycle, another
    replica, a crash before the incident was saved) sends nothing twice.

    Once resolved, the earlier moments' messages are moot (the resolution message covers
    them): only the resolution's is asked for; the draft still records what was never ticked.
    """
    if not incident.open or incident.phase is Phase.CLOSED:
        return incident, []
    policy = severity.at_level(policy, incident)
    postmortem = aftercare.postmortem_reminders(incident, now, policy)
    if incident.snoozed_until is not None and now < incident.snoozed_until:
        return incident, list(postmortem)
    comments: list[Comment] = []
    escalated = dict(incident.escalated)
    for phase, started in sorted(incident.phase_started.items(), key=lambda kv: kv[0].rank):
        moment = MOMENT_OF.get(phase)
        item = incident.comm_items.get(moment) if moment else None
        if moment is None or item is None or item.ticked or item.gone:
            continue
        if incident.reached(Phase.RESOLVED) and moment is not Moment.RESOLUTION:
            continue  # moot
        n = _count_since(started, now, policy.reminder_seconds, policy)
        if n < 1:
            continue
        text = (
            f"Reminder {n}: {addressee(incident)}, "
            f"*{quote(item.name)}* is not ticked yet. Tell {AUDIENCE}, then tick it."
        )
        steps = escalation(incident, policy)
        reached = min(n // policy.escalate_after, len(steps)) if policy.escalate_after else 0
        if reached > escalated.get(moment, 0):
            escalated[moment] = reached
            unanswered = f"{n} reminders have gone unanswered"
            text += f"\n\n{steps[reached - 1]}: {unanswered}, please see to it."
        messages = telling.ready(incident, moment, policy)
        if messages:
            text += f"\n\n{messages}"
        key = f"remind-{moment.value}-{n}"
        if moment is Moment.RESOLUTION and incident.resolutions > 1:
            key = f"remind-{moment.value}-r{incident.resolutions}-{n}"
        comments.append(Comment(incident.card_id, key, text))
    comments += _role_reminders(incident, now, policy)
    promise = incident.next_update_due
    if promise is None:
        comments += _status_reminders(incident, now, policy)
    elif now >= promise:  # a promise missed: one nudge, then the usual asks from then on
        comments += updates.nudges(incident, now, policy)
        comments += _status_reminders(incident, now, policy, after=promise)
    if escalated != incident.escalated:
        incident = incident.model_copy(update={"escalated": escalated})
    return incident, comments + postmortem


def _role_reminders(incident: Incident, now: datetime, policy: Policy) -> list[Comment]:
    missing = (
        "lead"
        if incident.lead is None
        else "communicator"
        if incident.communicator is None
        else None
    )
    if missing is None:
        return []
    n = _count_since(incident.declared_at, now, policy.role_reminder_seconds, policy)
    if n < 1:
        return []
    who = mention(incident.lead) if incident.lead else "Everyone"
    text = f"{who}: nobody is the {missing} yet. Pick one with `/{missing} @user`."
    return [Comment(incident.card_id, f"role-{missing}-{n}", text)]


def _status_reminders(
    incident: Incident, now: datetime, policy: Policy, after: datetime | None = None
) -> list[Comment]:
    """Asks for a status update after a quiet spell (from `after`, when later)."""
    if incident.phase.rank >= Phase.RESOLVED.rank:
        return []
    since = max(incident.declared_at, incident.last_human_comment_at or incident.declared_at)
    since = max(since, after or since)
    n = _count_since(since, now, policy.status_update_seconds, policy)
    if n < 1:
        return []
    quiet = int((now - since).total_seconds() // 60)
    text = (
        f"{mention(incident.lead) if incident.lead else 'Everyone'}: "
        f"nobody has commented for {quiet} min. "
        "How does it stand? A one-line status update helps everyone."
    )
    return [Comment(incident.card_id, f"status-{int(since.timestamp())}-{n}", text)]


def words(key: str) -> str:
    """What a reminder (by its key, see `due`) asks for, as people say it."""
    parts = [p for p in key.split("-") if not re.fullmatch(r"r\d+", p)]  # the n-th resolution
    kind, last = parts[0], parts[-1]
    n = f" (reminder {last})" if last.isdigit() else ""
    if kind == "remind" and len(parts) > 1:
        what = {
            Moment.DETECTION.value: "tell everyone the problem is noticed",
            Moment.WORKAROUND.value: "tell everyone there is a workaround",
            Moment.RESOLUTION.value: "tell everyone it is resolved",
        }.get(parts[1], "a communication")
        return what + n
    if kind == "role" and len(parts) > 1:
        return f"name a {parts[1]}{n}"
    if kind == "status":
        return f"a status update{n}"
    if kind == "pm":
        return {
            "eve": "book the post mortem (due the next business day)",
            "due": "the post mortem (due now)",
            "late": f"the post mortem ({last} business day{'' if last == '1' else 's'} late)",
        }.get(parts[1] if len(parts) > 1 else "", "the post mortem")
    return key


# -- /snooze -------------------------------------------------------------------------------


def snooze(
    incident: Incident, by: str, rest: str, at: datetime, policy: Policy
) -> tuple[Incident, str]:
    """`/snooze <how long>` or `/snooze off`, from the lead or the communicator (anyone while
    the incident has neither): the new snooze, and the reply that says until when."""
    allowed = [name for name in (incident.lead, incident.communicator) if name]
    if allowed and by not in allowed:
        who = " or ".join(mention(name) for name in allowed)
        return incident, f"{mention(by)}: only {who} can snooze the reminders."
    if rest.strip().lower() in ("off", "stop", "0"):
        if incident.snoozed_until is None or incident.snoozed_until <= at:
            return incident, "The reminders are not snoozed."
        woken = incident.model_copy(update={"snoozed_until": None})
        return woken, f"Reminders are back on (by {mention(by)})."
    length = durations.length(rest)
    if length is None or length > MAX_SNOOZE:
        return incident, (
            "`/snooze` takes how long, up to 12 h: `/snooze 30m`, `/snooze 1h30m`; "
            "`/snooze off` ends it."
        )
    until = at + length
    snoozed = incident.model_copy(update={"snoozed_until": until})
    return snoozed, (
        f"Reminders snoozed by {mention(by)} until {aftercare.local_time(until, policy)}; "
        "`/snooze off` ends it sooner."
    )
