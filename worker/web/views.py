"""What the overview page shows of each incident, as plain strings: decided here, rendered by
the templates. Purely computational: the incidents, the time and the policy go in.

The open incidents, most severe and then oldest first: name and card link, board, severity,
phase and since when, lead and communicator, age, time since the last status update, each
communication moment (told when / overdue by how long / not yet due), the next reminder. Then
the incidents that ended or closed in the last `RECENT`, newest first, with their durations.
And the insights as a table, a column per template version (`insight_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.core import reminders, severity
from worker.core.model import MOMENT_OF, Incident, Phase, Policy
from worker.report.insights import Insights
from worker.report.timeline import duration
from worker.template import Moment

#: How far back the page lists incidents that are over.
RECENT = timedelta(days=30)
#: How each moment is named on the page.
MOMENT_LABELS = {
    Moment.DETECTION: "noticed",
    Moment.WORKAROUND: "workaround",
    Moment.RESOLUTION: "resolved",
}


@dataclass(frozen=True)
class Told:
    moment: str
    state: str  # "told", "to tell", "overdue" (reminded about), "not yet due", "not needed"
    text: str


@dataclass(frozen=True)
class OpenRow:
    card_id: str
    name: str
    url: str
    board: str
    severity: str
    phase: str
    phase_since: str
    lead: str
    communicator: str
    age: str
    last_update: str
    told: tuple[Told, ...]
    next_reminder: str


@dataclass(frozen=True)
class PastRow:
    card_id: str
    name: str
    url: str
    board: str
    declared: str
    how: str
    to_workaround: str
    to_resolution: str
    lasted: str


def card_url(incident: Incident) -> str:
    return f"https://trello.com/c/{incident.short_link or incident.card_id}"


def is_running(incident: Incident) -> bool:
    return incident.open and incident.phase is not Phase.CLOSED


def open_rows(
    incidents: Sequence[Incident], now: datetime, policy: Policy, board: Callable[[str], str]
) -> list[OpenRow]:
    running = sorted(
        (i for i in incidents if is_running(i)),
        key=lambda i: (i.severity if i.severity is not None else 99, i.declared_at),
    )
    return [_open_row(i, now, policy, board) for i in running]


def _open_row(
    incident: Incident, now: datetime, policy: Policy, board: Callable[[str], str]
) -> OpenRow:
    since = incident.phase_started.get(incident.phase, incident.declared_at)
    if incident.last_update_at is not None:
        update = f"{duration(now - incident.last_update_at)} ago"
    else:
        update = "none yet"
    upcoming = reminders.next_at(incident, now, policy)
    return OpenRow(
        card_id=incident.card_id,
        name=incident.name,
        url=card_url(incident),
        board=board(incident.board_id),
        severity=(
            f"{incident.severity} ({incident.severity_name})"
            if incident.severity is not None
            else ""
        ),
        phase=incident.phase.value,
        phase_since=f"{_local(since, policy)} ({duration(now - since)})",
        lead=_at(incident.lead),
        communicator=_at(incident.communicator),
        age=duration(now - incident.declared_at),
        last_update=update,
        told=tuple(_told(incident, moment, now, policy) for moment in Moment),
        next_reminder=(
            f"{_local(upcoming, policy)} (in {duration(upcoming - now)})"
            if upcoming is not None
            else "-"
        ),
    )


def _told(incident: Incident, moment: Moment, now: datetime, policy: Policy) -> Told:
    label = MOMENT_LABELS[moment]
    told = incident.communicated.get(moment)
    if told is not None:
        return Told(label, "told", f"told {_local(told, policy)}")
    item = incident.comm_items.get(moment)
    phase = next(p for p, m in MOMENT_OF.items() if m is moment)
    started = incident.phase_started.get(phase)
    if item is not None and item.gone:
        return Told(label, "not needed", "item removed")
    if started is None:
        return Told(label, "not yet due", "not yet due")
    if incident.reached(Phase.RESOLVED) and moment is not Moment.RESOLUTION:
        return Told(label, "not needed", "not told (resolved since)")
    reminded = started + timedelta(seconds=severity.at_level(policy, incident).reminder_seconds)
    if now < reminded:  # the first reminder is not due yet
        return Told(label, "to tell", f"to tell (due {duration(now - started)} ago)")
    return Told(label, "overdue", f"overdue by {duration(now - started)}")


def past_rows(
    incidents: Sequence[Incident], now: datetime, policy: Policy, board: Callable[[str], str]
) -> list[PastRow]:
    rows: list[tuple[datetime, PastRow]] = []
    for incident in incidents:
        over = _over_at(incident)
        if over is None or now - over > RECENT:
            continue
        took = {
            phase: duration(at - incident.declared_at) if at is not None else "-"
            for phase, at in (
                (Phase.WORKAROUND, incident.phase_started.get(Phase.WORKAROUND)),
                (Phase.RESOLVED, incident.phase_started.get(Phase.RESOLVED)),
            )
        }
        how = incident.ended.value if incident.ended is not None else "closed"
        rows.append(
            (
                over,
                PastRow(
                    card_id=incident.card_id,
                    name=incident.name,
                    url=card_url(incident),
                    board=board(incident.board_id),
                    declared=_local(incident.declared_at, policy),
                    how=how,
                    to_workaround=took[Phase.WORKAROUND],
                    to_resolution=took[Phase.RESOLVED],
                    lasted=duration(over - incident.declared_at),
                ),
            )
        )
    return [row for _, row in sorted(rows, key=lambda pair: pair[0], reverse=True)]


def _over_at(incident: Incident) -> datetime | None:
    """When the incident was over: ended (stood down, archived, deleted) or closed."""
    if incident.ended_at is not None:
        return incident.ended_at
    if incident.phase is Phase.CLOSED:
        return incident.phase_started.get(Phase.CLOSED)
    return None


def _local(at: datetime, policy: Policy) -> str:
    return at.astimezone(policy.timezone).strftime("%a %d %b %H:%M")


def _at(username: str | None) -> str:
    return f"@{username}" if username else "-"


def insight_rows(found: Insights) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The insights as a table: the template versions (oldest first), and a row per measure
    with a cell for every incident and one per version."""
    versions = list(found.by_version)
    groups = [found.every, *found.by_version.values()]

    def spread(measure: str) -> list[str]:
        cells = []
        for figures in groups:
            s = figures.spreads[measure]
            cells.append(
                f"{duration(s.median)} (90%: {duration(s.p90)}; {s.count})"
                if s.median is not None and s.p90 is not None
                else "-"
            )
        return cells

    rows = [
        ("Incidents", [str(f.incidents) for f in groups]),
        ("Time to first communication", spread("first communication")),
        ("Time to workaround", spread("workaround")),
        ("Time to resolution", spread("resolution")),
        (
            "Reminders needed per incident (median; most)",
            [f"{f.reminders_median:g}; {f.reminders_most}" for f in groups],
        ),
        (
            "Post mortems on time / late / not yet due",
            [
                f"{f.postmortems.on_time} / {f.postmortems.late} / {f.postmortems.not_yet_due}"
                for f in groups
            ],
        ),
        (
            "Follow-ups open (late) of all",
            [f"{f.followups_open} ({f.followups_late}) of {f.followups}" for f in groups],
        ),
    ]
    return versions, rows


def span(value: timedelta | None) -> str:
    """A duration as the pages show it ("-" for none)."""
    return "-" if value is None else duration(value)
