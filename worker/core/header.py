"""The status header the worker keeps at the top of an incident card's description.

It shows the phase, the roles and when each phase began. It holds no running clock, so it
changes only when the incident does, and the worker rewrites the description only then.
Whatever people wrote in the description stays below the header, untouched: when their text
leaves too little room under Trello's limit, the header is shortened to its first rows, or
left off with one comment saying why; people's text is never cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from worker.core.bounds import TEXT_MAX
from worker.core.model import Incident, Phase, mention
from worker.core.quoting import quote

FIRST_LINE = "**Incident status** (kept current by incident-worker)"
LAST_LINE = "*(write below this line; the worker keeps the part above it current)*"


def render(incident: Incident) -> str:
    """The header for `incident`, from FIRST_LINE to LAST_LINE."""
    state = incident.phase.value
    if incident.ended is not None:
        state = f"{state}, {incident.ended.value}"
    rows = [
        FIRST_LINE,
        "",
        f"- Phase: **{state}**",
        *(
            [f"- Severity: **{incident.severity} ({incident.severity_name})**"]
            if incident.severity is not None
            else []
        ),
        f"- Lead: {mention(incident.lead)} · Communicator: {mention(incident.communicator)}",
        f"- Deep delvers: {_people(incident.delvers)}",
        f"- Quickfixers: {_people(incident.quickfixers)}",
        f"- Declared: {_when(incident.declared_at)} by {mention(incident.declared_by)}",
    ]
    for phase in (Phase.WORKAROUND, Phase.RESOLVED, Phase.CLOSED):
        started = incident.phase_started.get(phase)
        if started is not None:
            took = _duration(started - incident.declared_at)
            rows.append(f"- {phase.value.capitalize()}: {_when(started)} ({took} after declaring)")
    if incident.last_update_at is not None:
        by = mention(incident.last_update_by)
        promise = f"; next by {_when(incident.next_update_due)}" if incident.next_update_due else ""
        rows.append(
            f"- Latest update ({_when(incident.last_update_at)}, {by}{promise}): "
            f"{quote(incident.last_update, 300)}"
        )
    if incident.postmortem_due is not None and incident.phase is Phase.RESOLVED:
        rows.append(f"- Post mortem due: {_when(incident.postmortem_due)}")
    rows += _followups(incident)
    rows += [f"- Template: v{incident.template_version}", "", LAST_LINE]
    return "\n".join(rows)


def split(description: str) -> tuple[str | None, str]:
    """(the header, the people's part) of a description; the header is None if there is none."""
    if not description.startswith(FIRST_LINE):
        return None, description
    end = description.find(LAST_LINE)
    if end < 0:
        return None, description
    end += len(LAST_LINE)
    return description[:end], description[end:].lstrip("\n")


def compose(header: str, rest: str) -> str:
    return f"{header}\n\n{rest}" if rest else header


#: The comment that says why the header is not on the card.
LEFT_OFF = (
    "The status header is left off this card: its description leaves no room for it (Trello "
    "takes at most 16,384 characters). Shorten the description and the header comes back."
)


@dataclass(frozen=True)
class Fitted:
    """The description to write (None: it is right already) and, when the header had to be
    left off, the comment that says so."""

    description: str | None
    note: str | None = None


def fit(description: str, incident: Incident) -> Fitted:
    """The description with a current header that fits Trello's limit; see the module doc."""
    current, rest = split(description)
    full = render(incident)
    short = _short(full)
    for wanted in (full, short):
        if len(compose(wanted, rest)) <= TEXT_MAX:
            return Fitted(None if current == wanted else compose(wanted, rest))
    return Fitted(None if current is None else rest, LEFT_OFF)


def updated(description: str, incident: Incident) -> str | None:
    """The description with a current header, or None when it is current already."""
    return fit(description, incident).description


def _short(full: str) -> str:
    """The header's first rows only: the phase, the severity, the lead and communicator."""
    kept = ("- Phase:", "- Severity:", "- Lead:")
    rows = [row for row in full.split("\n") if row.startswith(kept)]
    return "\n".join([FIRST_LINE, "", *rows, "", LAST_LINE])


#: The most follow-ups the header lists one by one.
FOLLOWUPS_LISTED = 10


def _followups(incident: Incident) -> list[str]:
    """A row per follow-up (the first `FOLLOWUPS_LISTED`): its card, owner, due date, state."""
    rows = []
    for followup in list(incident.followups.values())[:FOLLOWUPS_LISTED]:
        name = quote(followup.name, 200)
        shown = f"[{name}]({followup.url})" if followup.url else name
        state = f"done ({followup.done_how})" if followup.done_at else "open"
        rows.append(
            f"- Follow-up: {shown} · {mention(followup.owner)} · due {_when(followup.due)} · "
            f"{state}"
        )
    more = len(incident.followups) - FOLLOWUPS_LISTED
    if more > 0:
        rows.append(f"- … and {more} more follow-ups")
    return rows


def _people(names: tuple[str, ...]) -> str:
    return ", ".join(mention(name) for name in names) if names else "(nobody yet)"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
