"""The incident process: pure decisions.

Every function here takes the incident, what happened (an event, or just the time) and the
`Policy`, and returns the changed incident and the effects to take. Nothing here reads a clock,
touches the network or the database: the time is an argument, so the whole process is tested
from tables.

Reminders are sequences. The n-th reminder about a moment is due `n * cadence` after the moment
began; its key names n, so it is sent once however many cycles (or replicas) ask. A worker that
was down for three cadences sends only the one due now, not the three it missed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from worker.core import aftercare, commands, observe, reminders, severity, telling, updates
from worker.core import trello_json as ev
from worker.core.model import (
    AUDIENCE,
    MOMENT_OF,
    AddChecklists,
    AddMembers,
    CardView,
    Comment,
    Decision,
    Effect,
    Ended,
    Incident,
    Phase,
    Policy,
    RefreshHeader,
    mention,
    name_key,
    same_name,
)
from worker.core.quoting import quote
from worker.levels import find
from worker.template import Moment, Stage

PHASE_COMMANDS = {"workaround": Phase.WORKAROUND, "resolved": Phase.RESOLVED}
MENTION = re.compile(r"@([A-Za-z0-9_]+)")


def _item_name(policy: Policy, moment: Moment) -> str:
    return policy.template.communication(moment)[1].text


# -- declaring ---------------------------------------------------------------------------


def declare(
    card_id: str,
    card_name: str,
    board_id: str,
    *,
    by: str,
    at: datetime,
    policy: Policy,
    short_link: str = "",
    given: Mapping[str, str] | None = None,
    members: Mapping[str, str] | None = None,
) -> Decision:
    """A new incident on this card: the declared checklists, the header, the first comment.

    `given`: roles named at declaration (`incident-worker declare --lead`), role -> username;
    only people in `members` (username -> member id) take them.
    """
    members = members or {}
    named = {role: who for role, who in (given or {}).items() if who in members}
    incident = Incident(
        card_id=card_id,
        board_id=board_id,
        name=card_name,
        short_link=short_link,
        declared_at=at,
        declared_by=by,
        template_version=policy.template.version,
        phase_started={Phase.INVESTIGATING: at},
        lead=named.get("lead") or by or None,
        communicator=named.get("communicator"),
    )
    effects: list[Effect] = [AddChecklists(card_id, Stage.DECLARED), RefreshHeader(card_id)]
    if named:
        people = tuple(dict.fromkeys(members[who] for who in named.values()))
        effects.append(AddMembers(card_id, people))
    # told first, so the first comment offers only what is left to send
    incident, announced = telling.announce(incident, at, policy, "announce-declared")
    roles = f"Lead: {mention(incident.lead)}"
    if incident.communicator:
        roles += f", communicator: {mention(incident.communicator)}"
    if by:
        lines = [f"**Incident declared** by {mention(by)}. {roles}."]
    elif incident.lead:
        lines = [f"**Incident declared** with `incident-worker declare`. {roles}."]
    else:  # `incident-worker declare`: nobody to name yet, so say how to name them
        lines = ["**Incident declared.** Nobody leads it yet: name the lead with `/lead @user`."]
    if policy.meeting_url:
        lines.append(f"Call: {policy.meeting_url}")
    lines += [
        "",
        f"{reminders.addressee(incident)}: tell {AUDIENCE} that we have noticed the problem "
        f"(checklist: *{_item_name(policy, Moment.DETECTION)}*).",
        "",
        telling.ready(incident, Moment.DETECTION, policy),
        "",
        "Set roles with `/lead @user`, `/communicator @user`, `/delvers @user @user`, "
        "`/quickfixers @user`; move on with `/workaround <text>` and `/resolved <text>`.",
    ]
    effects.append(Comment(card_id, "declared", "\n".join(lines)))
    level = find(policy.template.levels, (given or {}).get("sev", "")) if given else None
    if level is not None:
        incident, more = severity.set_level(incident, level, "", policy)
        effects += more
    return incident, effects + announced


# -- events -------------------------------------------------------------------------------


def on_event(
    incident: Incident | None,
    event: ev.Event,
    policy: Policy,
    members: Mapping[str, str],
    given: Mapping[str, str] | None = None,
) -> Decision | None:
    """What `event` changes; None when it concerns no incident (and declares none).

    `members` maps the board's usernames to member ids; `given`: the roles named for a
    declaration by the worker's own label (see `commands.given_roles`). A message first told
    by it is stamped with its time (`observe.communicated`).
    """
    decision = _on_event(incident, event, policy, members, given)
    if decision is None:
        return None
    return observe.communicated(decision[0], event.at), decision[1]


def _on_event(
    incident: Incident | None,
    event: ev.Event,
    policy: Policy,
    members: Mapping[str, str],
    given: Mapping[str, str] | None,
) -> Decision | None:
    own = event.member_id == policy.worker_member_id
    if incident is None or not incident.open:
        # The worker's own label comes from `incident-worker declare`: it declares, leaderless.
        if isinstance(event, ev.LabelAdded) and same_name(event.label, policy.incident_label):
            return declare(
                event.card_id,
                event.card_name,
                event.board_id,
                by="" if own else event.username,
                at=event.at,
                policy=policy,
                short_link=event.short_link,
                given=given if own else None,
                members=members,
            )
        return None
    if own:
        return incident, []
    if isinstance(event, ev.LabelAdded):
        if same_name(event.label, policy.workaround_label):
            return advance(incident, Phase.WORKAROUND, event.at, event.username, "", policy)
        if same_name(event.label, policy.resolved_label):
            return advance(incident, Phase.RESOLVED, event.at, event.username, "", policy)
        level = severity.label_level(event.label, policy)
        if level is not None:
            return severity.set_level(incident, level, event.username, policy)
        return incident, []
    if isinstance(event, ev.LabelRemoved):
        if same_name(event.label, policy.incident_label):
            return stand_down(incident, event.at, event.username)
        if same_name(event.label, policy.resolved_label):
            why = f"the {quote(policy.resolved_label)} label was removed"
            return aftercare.reopen(incident, event.at, event.username, why)
        return incident, []
    if isinstance(event, ev.CardMoved):
        if policy.is_resolved_list(event.list_after):
            note = f"moved to {event.list_after}"
            return advance(incident, Phase.RESOLVED, event.at, event.username, note, policy)
        if policy.is_resolved_list(event.list_before):
            why = f"moved back to {quote(event.list_after)}"
            return aftercare.reopen(incident, event.at, event.username, why)
        return incident, []
    if isinstance(event, ev.CardArchived):
        if event.archived:
            return end(incident, Ended.ARCHIVED, event.at), []
        return incident, []
    if isinstance(event, ev.CardDeleted):
        return end(incident, Ended.DELETED, event.at), []
    if isinstance(event, ev.CheckItemChanged):
        incident = tick(incident, event.item_id, event.complete)
        incident = aftercare.tick_item(incident, event.checklist_id, event.item_id, event.complete)
        return aftercare.progress(incident, event.at, policy)
    if isinstance(event, ev.Commented):
        return on_comment(incident, event, policy, members)
    return incident, []


def advance(
    incident: Incident, phase: Phase, at: datetime, by: str, note: str, policy: Policy
) -> Decision:
    """Move to `phase` (never backwards, never twice) and announce it."""
    if incident.reached(phase) or phase.rank <= incident.phase.rank:
        return incident, []
    started = dict(incident.phase_started)
    started[phase] = at
    changed = incident.model_copy(update={"phase": phase, "phase_started": started})
    if phase is Phase.WORKAROUND and note:
        changed = changed.model_copy(update={"workaround": note})
    follow_up: list[Effect] = []
    if phase is Phase.RESOLVED:
        changed, follow_up = aftercare.on_resolved(
            changed,
            at,
            severity.at_level(policy, changed),
            severity.needs_postmortem(changed, policy),
        )
    moment = MOMENT_OF[phase]
    title = {Phase.WORKAROUND: "Workaround in place", Phase.RESOLVED: "Resolved"}[phase]
    detail = f": {quote(note)}" if note else ""
    text = (
        f"**{title}** (by {mention(by)}){detail}\n\n"
        f"{reminders.addressee(changed)}: tell {AUDIENCE} "
        f"(checklist: *{_item_name(policy, moment)}*)."
    )
    messages = telling.ready(changed, moment, policy)
    if messages:
        text += f"\n\n{messages}"
    key = f"phase-{phase.value}"
    if phase is Phase.RESOLVED and changed.resolutions > 1:
        key += f"-r{changed.resolutions}"
    effects: list[Effect] = [RefreshHeader(incident.card_id)]
    effects.append(Comment(incident.card_id, key, text))
    if phase is Phase.RESOLVED:
        changed, more = telling.announce(changed, at, policy, f"announce-{key}")
        follow_up += more
    return changed, effects + follow_up


def stand_down(incident: Incident, at: datetime, by: str) -> Decision:
    ended = end(incident, Ended.STOOD_DOWN, at)
    text = (
        f"**Incident stood down** by {mention(by)} (the incident label was removed). "
        "No more reminders."
    )
    effects: list[Effect] = [
        RefreshHeader(incident.card_id),
        Comment(incident.card_id, "stood-down", text),
    ]
    if incident.source_card_id:
        effects.append(Comment(incident.source_card_id, "stood-down-source", text))
    return ended, effects


def end(incident: Incident, why: Ended, at: datetime) -> Incident:
    return incident.model_copy(update={"ended": why, "ended_at": at})


def tick(incident: Incident, item_id: str, complete: bool) -> Incident:
    items = dict(incident.comm_items)
    for moment, item in items.items():
        if item.item_id == item_id and item.ticked != complete:
            items[moment] = item.model_copy(update={"ticked": complete})
            return incident.model_copy(update={"comm_items": items})
    return incident


def on_comment(
    incident: Incident, event: ev.Commented, policy: Policy, members: Mapping[str, str]
) -> Decision:
    """A person's comment: it counts as activity, and its command lines are carried out.

    A command that cannot apply now, or that the worker does not know, gets a reply saying so.
    """
    incident = incident.model_copy(update={"last_human_comment_at": event.at})
    effects: list[Effect] = []
    replies: list[str] = []
    roles: dict[str, tuple[str, ...]] = {}
    for line in event.text.splitlines():
        command = commands.parse(line)
        if command is None:
            continue
        name, rest = command
        if name == "allhands":
            effects.append(all_hands(incident, event, rest, policy))
        elif name == "help":
            replies.append(commands.help_text(incident, policy.roles_by_anyone))
        elif name in PHASE_COMMANDS:
            why_not = commands.too_late(name, incident)
            if why_not:
                replies.append(why_not)
                continue
            incident, more = advance(
                incident, PHASE_COMMANDS[name], event.at, event.username, rest, policy
            )
            effects += more
        elif name == "tell":
            key = f"told-{event.action_id}-{len(effects)}"
            incident, more = telling.tell(incident, rest, event.username, event.at, policy, key)
            effects += more
        elif name == "update":
            before = incident
            incident, more = updates.update(incident, rest, event.username, event.at, policy)
            effects += more
            if incident is before:
                replies.append(commands.no_update(incident))
        elif name == "sev":
            (incident, more), said = severity.command(incident, rest, event.username, policy)
            effects += more
            if said:
                replies.append(said)
        elif name == "snooze":
            incident, said = reminders.snooze(incident, event.username, rest, event.at, policy)
            replies.append(said)
        elif name == "reopen":
            if incident.phase not in (Phase.RESOLVED, Phase.CLOSED):
                replies.append(commands.not_resolved(incident))
                continue
            why = "`/reopen`" + (f": {quote(rest)}" if rest else "")
            incident, more = aftercare.reopen(incident, event.at, event.username, why)
            effects += more
        elif name in commands.ROLE_COMMANDS:
            # Trello usernames are lowercase; people type them as they like
            people = tuple(dict.fromkeys(p.lower() for p in MENTION.findall(rest)))
            unknown = [p for p in people if p not in members]
            if not commands.may_name(name, event.username, incident, policy.roles_by_anyone):
                replies.append(commands.not_yours(name, event.username, incident))
            elif not people:
                replies.append(f"`/{name}` needs at least one @user.")
            elif unknown:
                who = ", ".join(quote(f"@{p}") for p in unknown)
                replies.append(
                    f"I don't know {who} on this board, so the {name} stay as they were."
                )
            else:
                roles[name] = people
        else:
            replies.append(commands.unknown(name))
    if roles:
        incident, more, said = _take_roles(incident, roles, members)
        effects += more
        replies.insert(0, said)
    if replies:
        effects.append(Comment(incident.card_id, f"reply-{event.action_id}", "\n".join(replies)))
    return incident, effects


def _take_roles(
    incident: Incident, roles: Mapping[str, tuple[str, ...]], members: Mapping[str, str]
) -> tuple[Incident, list[Effect], str]:
    """The roles named, the people added to the card, and the acknowledgement."""
    update: dict[str, object] = {}
    handed: list[str] = []
    for name, people in roles.items():
        if name in ("lead", "communicator"):
            before = getattr(incident, name)
            update[name] = people[0]
            if before and before != people[0]:
                handed.append(
                    f"the {name} hands over from {mention(before)} to {mention(people[0])}"
                )
        else:
            update[name] = people
    incident = incident.model_copy(update=update)
    everyone = tuple(dict.fromkeys(p for people in roles.values() for p in people))
    effects: list[Effect] = [
        AddMembers(incident.card_id, tuple(members[p] for p in everyone)),
        RefreshHeader(incident.card_id),
    ]
    said = "; ".join(
        f"{name}: {', '.join(mention(p) for p in people)}" for name, people in roles.items()
    )
    more = f" {'; '.join(handed).capitalize()}." if handed else ""
    return incident, effects, f"Noted ({said}).{more}"


def all_hands(incident: Incident, event: ev.Commented, reason: str, policy: Policy) -> Comment:
    """`/allhands [reason]`: the lead or the communicator calls everyone on the board."""
    allowed = [name for name in (incident.lead, incident.communicator) if name]
    key = f"allhands-{event.action_id}"
    if event.username not in allowed:
        who = " or ".join(mention(name) for name in allowed) or "the lead (nobody yet)"
        return Comment(
            incident.card_id,
            key,
            f"{mention(event.username)}: only {who} can call all hands. Ask them, or set a lead "
            "with `/lead @user`.",
        )
    lines = [f"**All hands**, called by {mention(event.username)}: @board"]
    if reason:
        lines.append(f"Why: {quote(reason)}")
    if policy.meeting_url:
        lines.append(f"Join the call: {policy.meeting_url}")
    return Comment(incident.card_id, key, "\n".join(lines))


# -- reconcile -----------------------------------------------------------------------------


def reconcile(incident: Incident, card: CardView, now: datetime, policy: Policy) -> Decision:
    """Compare the incident with its card and repair what a missed event left behind.

    Signals still on the card (labels, list) move the phase on; the incident label gone
    stands it down; checklists the worker added and people removed are noted, never re-added;
    checklists the worker has not managed to add yet (a crash half-way) are added. The header
    is always checked (it costs nothing: the executor compares before writing).
    """
    if not incident.open:
        return incident, []
    incident = observe.communicated(observe.observe_comm_items(incident, card.comm_items), now)
    if name_key(policy.incident_label) not in card.labels:
        return stand_down(incident, now, "")
    effects: list[Effect] = []
    if name_key(policy.workaround_label) in card.labels:
        incident, more = advance(incident, Phase.WORKAROUND, now, "", "", policy)
        effects += more
    if name_key(policy.resolved_label) in card.labels or policy.is_resolved_list(card.list_name):
        incident, more = advance(incident, Phase.RESOLVED, now, "", "", policy)
        effects += more
    removed = [
        name
        for name, checklist_id in incident.checklists.items()
        if checklist_id not in card.checklist_ids and name not in incident.removed_checklists
    ]
    if removed:
        incident = incident.model_copy(
            update={"removed_checklists": (*incident.removed_checklists, *removed)}
        )
    lost = {
        moment: item.model_copy(update={"gone": True})
        for moment, item in incident.comm_items.items()
        if not item.gone and item.checklist_id not in card.checklist_ids
    }
    if lost:
        incident = incident.model_copy(update={"comm_items": {**incident.comm_items, **lost}})
    phases = [Stage.DECLARED]
    if incident.reached(Phase.RESOLVED):
        phases.append(Stage.RESOLVED)
    if incident.template_version != policy.template.version:
        phases = []  # it keeps the checklists of the template it got; that one is gone now
    for phase in phases:
        wanted = {c.name for c in policy.template.for_level(phase, incident.severity)}
        missing = wanted - set(incident.checklists) - set(incident.removed_checklists)
        if missing and AddChecklists(incident.card_id, phase) not in effects:
            effects.insert(0, AddChecklists(incident.card_id, phase))
    incident = aftercare.observe_items(incident, card.items)
    incident, more = aftercare.progress(incident, now, policy)
    effects += more
    if RefreshHeader(incident.card_id) not in effects:
        effects.append(RefreshHeader(incident.card_id))
    return incident, effects


# -- what is left to carry out -----------------------------------------------------------------


def settle(incident: Incident, effects: Sequence[Effect], policy: Policy) -> list[Effect]:
    """The effects to carry out for `incident` as it now stands, each once, in order.

    An incident that has ended only still says so (comments) and shows it (the header);
    checklists to add are named: the stage's checklists the incident has neither got yet
    nor had removed by a person.
    """
    settled: list[Effect] = []
    for effect in dict.fromkeys(effects):
        if not incident.open and not isinstance(effect, Comment | RefreshHeader):
            continue
        if isinstance(effect, AddChecklists):
            names = tuple(
                c.name
                for c in policy.template.for_level(effect.stage, incident.severity)
                if c.name not in incident.checklists and c.name not in incident.removed_checklists
            )
            if not names:
                continue
            effect = replace(effect, names=names)
        settled.append(effect)
    return settled
