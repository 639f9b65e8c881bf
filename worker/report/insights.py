"""Insights across incidents: how incidents go, grouped by the version of the process that ran.

Purely computational, no side effects: the incidents (as the store keeps them), how many
communication reminders each needed, the time and the team's time zone go in; the figures
come out, for every incident since a date and for each template version alone, so a team sees
whether a change to its process helped. The overview page (`/insights`), its pictures and
`incident-worker insights` all show these same figures.

- Incidents per month (in the team's time zone) by severity ("-" when none was set).
- Time to first communication (the first message seen told), to workaround and to resolution,
  from declaring: their spread (how many, median, 90th percentile) and, per month, the median.
- The delay to tell each audience (`/tell`), from the start of the moment it was told about.
- Communication reminders needed per incident.
- Post mortems: held on time (closed by the deadline), late (closed after it, or still open
  past it), not yet due.
- Follow-ups: how many, open, late.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from worker.core.model import Incident, Phase

#: The durations measured from declaring, by name.
MEASURES = ("first communication", "workaround", "resolution")
#: Where each moment starts, for the delay to tell about it.
_MOMENT_STARTS = {"noticed": None, "workaround": Phase.WORKAROUND, "resolved": Phase.RESOLVED}


@dataclass(frozen=True)
class Spread:
    """Durations: how many, the median and the 90th percentile (nearest rank)."""

    count: int = 0
    median: timedelta | None = None
    p90: timedelta | None = None

    @classmethod
    def of(cls, values: Sequence[timedelta]) -> Spread:
        if not values:
            return cls()
        ordered = sorted(values)
        return cls(len(ordered), _rank(ordered, 0.5), _rank(ordered, 0.9))


@dataclass(frozen=True)
class PostMortems:
    on_time: int = 0
    late: int = 0
    not_yet_due: int = 0


@dataclass(frozen=True)
class Figures:
    """The figures of one group of incidents."""

    incidents: int
    #: "2026-11" -> severity name -> incidents declared that month
    per_month: dict[str, dict[str, int]]
    #: measure (`MEASURES`) -> its spread
    spreads: dict[str, Spread]
    #: "2026-11" -> measure -> the month's median (None: none measured)
    trend: dict[str, dict[str, timedelta | None]]
    #: audience -> delay from the moment's start to telling it
    tell_delay: dict[str, Spread]
    #: communication reminders per incident: the median and the most
    reminders_median: float
    reminders_most: int
    postmortems: PostMortems
    followups: int
    followups_open: int
    followups_late: int


@dataclass(frozen=True)
class Insights:
    since: datetime | None
    every: Figures
    #: template version -> the figures of the incidents that ran it, oldest version first
    by_version: dict[str, Figures] = field(default_factory=dict)


def insights(
    incidents: Sequence[Incident],
    reminders: Mapping[str, int],
    now: datetime,
    tz: ZoneInfo,
    since: datetime | None = None,
) -> Insights:
    """The figures for the incidents declared since `since` (all, when None).

    `reminders`: communication reminders sent, by incident card id (none: 0)."""
    chosen = sorted(
        (i for i in incidents if since is None or i.declared_at >= since),
        key=lambda i: i.declared_at,
    )
    versions: dict[str, list[Incident]] = {}
    for incident in chosen:
        versions.setdefault(incident.template_version, []).append(incident)
    return Insights(
        since,
        figures(chosen, reminders, now, tz),
        {version: figures(group, reminders, now, tz) for version, group in versions.items()},
    )


def figures(
    incidents: Sequence[Incident], reminders: Mapping[str, int], now: datetime, tz: ZoneInfo
) -> Figures:
    per_month: dict[str, Counter[str]] = defaultdict(Counter)
    measured: dict[str, list[timedelta]] = {m: [] for m in MEASURES}
    by_month: dict[str, dict[str, list[timedelta]]] = defaultdict(lambda: {m: [] for m in MEASURES})
    delays: dict[str, list[timedelta]] = defaultdict(list)
    for incident in incidents:
        month = incident.declared_at.astimezone(tz).strftime("%Y-%m")
        per_month[month][incident.severity_name or "-"] += 1
        for measure, took in durations(incident).items():
            measured[measure].append(took)
            by_month[month][measure].append(took)
        for moment, told in incident.told.items():
            start = _moment_start(incident, moment)
            for audience, at in told.items():
                if start is not None and at >= start:
                    delays[audience].append(at - start)
    counts = sorted(reminders.get(i.card_id, 0) for i in incidents)
    followups = [f for i in incidents for f in i.followups.values()]
    return Figures(
        incidents=len(incidents),
        per_month={month: dict(sorted(c.items())) for month, c in sorted(per_month.items())},
        spreads={m: Spread.of(values) for m, values in measured.items()},
        trend={
            month: {m: Spread.of(values).median for m, values in found.items()}
            for month, found in sorted(by_month.items())
        },
        tell_delay={a: Spread.of(values) for a, values in sorted(delays.items())},
        reminders_median=_median(counts),
        reminders_most=counts[-1] if counts else 0,
        postmortems=_postmortems(incidents, now),
        followups=len(followups),
        followups_open=sum(1 for f in followups if f.open),
        followups_late=sum(1 for f in followups if f.open and now >= f.due),
    )


def durations(incident: Incident) -> dict[str, timedelta]:
    """How long from declaring to the first message told, to workaround, to resolution (those
    reached)."""
    found: dict[str, timedelta] = {}
    if incident.communicated:
        found["first communication"] = min(incident.communicated.values()) - incident.declared_at
    for measure, phase in (("workaround", Phase.WORKAROUND), ("resolution", Phase.RESOLVED)):
        started = incident.phase_started.get(phase)
        if started is not None:
            found[measure] = started - incident.declared_at
    return found


def _moment_start(incident: Incident, moment: str) -> datetime | None:
    if moment not in _MOMENT_STARTS:
        return None
    phase = _MOMENT_STARTS[moment]
    return incident.declared_at if phase is None else incident.phase_started.get(phase)


def _postmortems(incidents: Sequence[Incident], now: datetime) -> PostMortems:
    on_time = late = pending = 0
    for incident in incidents:
        due = incident.postmortem_due
        if due is None:
            continue
        closed = incident.phase_started.get(Phase.CLOSED)
        if closed is not None and closed <= due:
            on_time += 1
        elif closed is not None or now > due:
            late += 1
        else:
            pending += 1
    return PostMortems(on_time, late, pending)


def _rank(ordered: Sequence[timedelta], share: float) -> timedelta:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _median(counts: Sequence[int]) -> float:
    if not counts:
        return 0.0
    middle = len(counts) // 2
    return float(counts[middle]) if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2
