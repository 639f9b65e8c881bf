"""The commands people write on an incident card, one per line: what each does, who may use
it, and the replies to a command mistyped or asked for at the wrong moment. Pure.

A line is a command when it starts with `/word` and the word is not the first part of a path
(`/var/log/app.log` is none). A word the worker does not know gets one reply naming the
closest command and pointing to `/help`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from worker.core.model import Incident, Phase, mention

#: `/word` at the start of a line, not followed by `/` (a path) or another word character.
COMMAND = re.compile(r"^\s*/(?P<name>[A-Za-z]+)\b(?!/)(?P<rest>.*)$")


@dataclass(frozen=True)
class Command:
    usage: str
    what: str
    who: str


#: Who may name the roles once there is a lead (anyone while there is none).
LEADS = "the lead (anyone while there is no lead)"
HANDS_OVER = "the lead or the communicator (anyone while there is no lead)"

COMMANDS: dict[str, Command] = {
    "lead": Command("/lead @user", "names the incident lead", HANDS_OVER),
    "communicator": Command("/communicator @user", "names the communicator", LEADS),
    "delvers": Command("/delvers @user @user", "names the deep delvers", LEADS),
    "quickfixers": Command("/quickfixers @user", "names the quickfixers", LEADS),
    "workaround": Command("/workaround <text>", "says there is a workaround", "anyone"),
    "resolved": Command("/resolved <text>", "says the problem is resolved", "anyone"),
    "reopen": Command("/reopen <why>", "re-opens a resolved incident", "anyone"),
    "tell": Command(
        "/tell <who> [text]",
        "records that they were told (`/tell all`; the ready message when no text)",
        "anyone",
    ),
    "update": Command(
        "/update <text>",
        "records a status update (`next update 15:30` or `next in 30m` promises the next)",
        "anyone",
    ),
    "sev": Command("/sev <level>", "sets the severity (`/sev 1`, `/sev critical`)", "anyone"),
    "allhands": Command(
        "/allhands <why>", "calls everyone on the board", "the lead or the communicator"
    ),
    "snooze": Command(
        "/snooze 30m",
        "holds the reminders that long (`/snooze off` ends it)",
        "the lead or the communicator",
    ),
    "help": Command("/help", "shows this list", "anyone"),
}
ROLE_COMMANDS = ("lead", "communicator", "delvers", "quickfixers")

#: How `incident-worker declare --lead/--communicator` gives the roles: a comment of the
#: worker's own, posted just before the label, whose command lines the declaration takes.
ROLES_GIVEN = "Roles given with `incident-worker declare`:"
GIVEN_ROLES = ("lead", "communicator")


def parse(line: str) -> tuple[str, str] | None:
    """(command, the rest of the line) when `line` is a command; None otherwise."""
    found = COMMAND.match(line)
    return (found["name"].lower(), found["rest"].strip()) if found else None


def roles_comment(given: dict[str, str]) -> str:
    """The comment that gives the roles (role -> username) to the declaration that follows."""
    lines = [f"/sev {v}" if role == "sev" else f"/{role} @{v}" for role, v in given.items()]
    return "\n".join([ROLES_GIVEN, *lines])


def given_roles(text: str) -> dict[str, str]:
    """The roles a `roles_comment` gives (role -> username, lowercase), and the severity (`sev`
    -> the level as written); none from any other comment."""
    if not text.startswith(ROLES_GIVEN):
        return {}
    given = {}
    for line in text.splitlines()[1:]:
        command = parse(line)
        if command is not None and command[0] == "sev" and command[1]:
            given["sev"] = command[1].split()[0].lower()
        if command is not None and command[0] in GIVEN_ROLES:
            named = re.fullmatch(r"@([A-Za-z0-9_]+)", command[1])
            if named:
                given[command[0]] = named[1].lower()
    return given


def unknown(name: str) -> str:
    """The reply to `/name` the worker does not know."""
    closest = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
    said = f"`/{name}`"  # letters only (see COMMAND): nothing in it is markup
    if closest:
        return f"{said} is not a command I know: did you mean `/{closest[0]}`? `/help` lists them."
    return f"{said} is not a command I know; `/help` lists them."


def may_name(role: str, by: str, incident: Incident, anyone: bool) -> bool:
    """Whether `by` may give `role`: anyone while there is no lead (or when the template says
    `roles_by: anyone`); then the lead, and for the lead itself the communicator too."""
    if anyone or incident.lead is None or by == incident.lead:
        return True
    return role == "lead" and by == incident.communicator


def not_yours(role: str, by: str, incident: Incident) -> str:
    """The reply to a role command `by` may not give (see `may_name`)."""
    who = f"the lead ({mention(incident.lead)})"
    if role == "lead":
        if incident.communicator:
            who += f" or the communicator ({mention(incident.communicator)})"
        return f"{mention(by)}: only {who} can hand the lead over, so it stays as it was."
    return f"{mention(by)}: only {who} can name the {role}, so they stay as they were."


def help_text(incident: Incident, anyone: bool = False) -> str:
    """What `/help` answers: the commands, who may use each, and the incident's roles now.

    `anyone`: the template lets anyone name the roles."""
    rows = [
        f"- `{c.usage}` {c.what} ({'anyone' if anyone and name in ROLE_COMMANDS else c.who})"
        for name, c in COMMANDS.items()
    ]
    roles = (
        f"Now: lead {mention(incident.lead)}, communicator {mention(incident.communicator)}, "
        f"deep delvers {_people(incident.delvers)}, quickfixers {_people(incident.quickfixers)}; "
        f"phase *{incident.phase.value}*."
    )
    return "\n".join(["**Commands** (one per line of a comment):", *rows, "", roles])


def too_late(name: str, incident: Incident) -> str | None:
    """Why a phase command cannot apply now, or None when it can."""
    if incident.phase in (Phase.RESOLVED, Phase.CLOSED):
        where = "closed" if incident.phase is Phase.CLOSED else "resolved"
        if name == "workaround":
            return (
                f"`/workaround` changes nothing now: the incident is {where}. "
                "`/reopen` it first if the problem is back."
            )
        return f"`/resolved` changes nothing now: the incident is {where} already."
    if name == "workaround" and incident.reached(Phase.WORKAROUND):
        return "`/workaround` changes nothing now: there is a workaround already."
    return None


def no_update(incident: Incident) -> str:
    """Why `/update` recorded nothing."""
    if incident.phase in (Phase.RESOLVED, Phase.CLOSED):
        return f"`/update` changes nothing now: the incident is {incident.phase.value}."
    return "`/update` needs the update itself: `/update <text>`."


def not_resolved(incident: Incident) -> str:
    phase = incident.phase.value
    return f"`/reopen` changes nothing now: the incident is not resolved (it is *{phase}*)."


def _people(names: tuple[str, ...]) -> str:
    return ", ".join(mention(n) for n in names) if names else "(nobody yet)"
