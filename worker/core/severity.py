"""Severity: setting an incident's level, and what the level changes. Pure.

A level (`worker.levels`) is set by a label named after it, by `/sev <level>` or by
`incident-worker declare --sev`, and changed the same ways at any time. Each change is
announced once (what the level means and what it changes) and shown in the header. From then
on the level's rules apply (`at_level`): its reminder and status-update cadences and its post
mortem (whether there is one, and its deadline); a level that calls all hands does so when it
is set, once per level. Purely computational: the caller carries out the effects.
"""

from __future__ import annotations

from dataclasses import replace

from worker.core.model import (
    AddChecklists,
    Comment,
    Decision,
    Effect,
    Incident,
    Phase,
    Policy,
    RefreshHeader,
    mention,
)
from worker.core.quoting import quote
from worker.levels import Level, find, listed
from worker.template import Stage


def level_of(incident: Incident, policy: Policy) -> Level | None:
    levels = policy.template.levels
    return next((level for level in levels if level.number == incident.severity), None)


def at_level(policy: Policy, incident: Incident) -> Policy:
    """The policy with the incident's level's own rules over the template's."""
    level = level_of(incident, policy)
    if level is None:
        return policy
    return replace(
        policy,
        reminder_seconds=level.reminder_seconds or policy.reminder_seconds,
        status_update_seconds=level.status_update_seconds or policy.status_update_seconds,
        postmortem_days=next(
            (
                days
                for days in (level.postmortem_calendar_days, level.postmortem_days)
                if days is not None
            ),
            policy.postmortem_days,
        ),
        postmortem_calendar=level.postmortem_calendar_days is not None,
    )


def needs_postmortem(incident: Incident, policy: Policy) -> bool:
    level = level_of(incident, policy)
    return level is None or level.postmortem


def label_level(label: str, policy: Policy) -> Level | None:
    """The level a label is named after (`critical`, `Sev 1`), if any."""
    return find(policy.template.levels, label) if policy.template.levels else None


def command(incident: Incident, rest: str, by: str, policy: Policy) -> tuple[Decision, str]:
    """`/sev <level>`: the level set, or a reply saying why not (unknown level, no levels)."""
    levels = policy.template.levels
    if not levels:
        return (incident, []), (
            "`/sev` changes nothing: this process has no severity levels (its template names none)."
        )
    level = find(levels, rest) if rest.strip() else None
    if level is None:
        return (incident, []), f"`/sev` takes one of the levels: {quote(listed(levels), 2000)}."
    if incident.severity == level.number:
        return (incident, []), f"The severity is {level.shown} already."
    return set_level(incident, level, by, policy), ""


def set_level(incident: Incident, level: Level, by: str, policy: Policy) -> Decision:
    """The incident at `level`, announced once; all hands called when the level says so."""
    if incident.severity == level.number:
        return incident, []
    before = level_of(incident, policy)
    changed = incident.model_copy(
        update={
            "severity": level.number,
            "severity_name": level.name,
            "severity_changes": incident.severity_changes + 1,
        }
    )
    was = f" (was {before.shown})" if before else ""
    who = f", set by {mention(by)}" if by else ""
    lines = [f"**Severity {level.shown}**{who}{was}: {level.means}", "", changes(level, policy)]
    effects: list[Effect] = [
        RefreshHeader(incident.card_id),
        Comment(incident.card_id, f"severity-{changed.severity_changes}", "\n".join(lines)),
    ]
    if incident.template_version == policy.template.version:  # else it keeps its checklists
        stages = [Stage.DECLARED, *([Stage.RESOLVED] if changed.reached(Phase.RESOLVED) else [])]
        effects[:0] = [AddChecklists(incident.card_id, stage) for stage in stages]
    if level.all_hands:
        call = [f"**All hands**, for severity {level.shown}: @board"]
        if policy.meeting_url:
            call.append(f"Join the call: {policy.meeting_url}")
        effects.append(Comment(incident.card_id, f"allhands-sev-{level.number}", "\n".join(call)))
    return changed, effects


def changes(level: Level, policy: Policy) -> str:
    """What the level changes, in one line."""
    applied = at_level(policy, Incident.model_construct(severity=level.number))
    parts = [
        f"reminders from {_minutes(applied.reminder_seconds)}",
        f"a status update asked for after {_minutes(applied.status_update_seconds)} of quiet",
    ]
    if level.all_hands:
        parts.append("all hands called")
    if level.postmortem:
        days = applied.postmortem_days
        kind = "day" if applied.postmortem_calendar else "business day"
        parts.append(f"a post mortem within {days} {kind}{'' if days == 1 else 's'}")
    else:
        parts.append("no post mortem")
    return "This level means: " + "; ".join(parts) + "."


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = seconds / 60
    return f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:g} h"
