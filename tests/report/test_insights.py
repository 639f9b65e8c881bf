"""Insights across incidents, from tables of incidents with the figures expected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import a_policy, an_incident
from worker.core.model import Ended, FollowUp, Incident, Phase
from worker.report.insights import PostMortems, Spread, insights
from worker.template import Moment

POLICY = a_policy()
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
M = timedelta(minutes=1)


def made(
    card: str,
    declared: datetime,
    *,
    version: str = "v1",
    severity: str = "",
    told: timedelta | None = None,
    workaround: timedelta | None = None,
    resolved: timedelta | None = None,
    closed: timedelta | None = None,
    due: timedelta | None = None,
    support: timedelta | None = None,
    ended: Ended | None = None,
) -> Incident:
    started = {Phase.INVESTIGATING: declared}
    if workaround is not None:
        started[Phase.WORKAROUND] = declared + workaround
    if resolved is not None:
        started[Phase.RESOLVED] = declared + resolved
    if closed is not None:
        started[Phase.CLOSED] = declared + closed
    return an_incident(
        POLICY,
        declared,
        card_id=card,
        template_version=version,
        severity=1 if severity else None,
        severity_name=severity,
        phase_started=started,
        communicated={Moment.DETECTION: declared + told} if told is not None else {},
        postmortem_due=declared + due if due is not None else None,
        told={"noticed": {"support": declared + support}} if support is not None else {},
        ended=ended,
    )


# Three incidents on the first template version, two on the second; one stood down.
NOV = datetime(2026, 11, 10, 9, tzinfo=UTC)
DEC = datetime(2026, 12, 1, 9, tzinfo=UTC)
TABLE = [
    made("a", NOV, severity="critical", told=20 * M, workaround=60 * M, resolved=180 * M,
         closed=timedelta(days=1), due=timedelta(days=2), support=25 * M),
    made("b", NOV + timedelta(days=3), severity="minor", told=40 * M, resolved=90 * M,
         closed=timedelta(days=5), due=timedelta(days=2), support=45 * M),
    made("c", NOV + timedelta(days=5), ended=Ended.STOOD_DOWN),
    made("d", DEC, version="v2", severity="critical", told=5 * M, workaround=30 * M,
         resolved=100 * M, due=timedelta(days=2), support=5 * M),
    made("e", DEC + timedelta(days=1), version="v2", told=7 * M, resolved=50 * M,
         due=timedelta(days=4), support=10 * M),
]  # fmt: skip
REMINDERS = {"a": 2, "b": 5, "d": 0, "e": 1}


@pytest.mark.parametrize(
    ("group", "incidents", "first", "workaround", "resolution", "support"),
    [
        ("all", 5, Spread(4, 7 * M, 40 * M), Spread(2, 30 * M, 60 * M),
         Spread(4, 90 * M, 180 * M), Spread(4, 10 * M, 45 * M)),
        ("v1", 3, Spread(2, 20 * M, 40 * M), Spread(1, 60 * M, 60 * M),
         Spread(2, 90 * M, 180 * M), Spread(2, 25 * M, 45 * M)),
        ("v2", 2, Spread(2, 5 * M, 7 * M), Spread(1, 30 * M, 30 * M),
         Spread(2, 50 * M, 100 * M), Spread(2, 5 * M, 10 * M)),
    ],
)  # fmt: skip
def test_spreads_for_every_incident_and_per_template_version(
    group: str,
    incidents: int,
    first: Spread,
    workaround: Spread,
    resolution: Spread,
    support: Spread,
) -> None:
    found = insights(TABLE, REMINDERS, NOW, STOCKHOLM)
    figures = found.every if group == "all" else found.by_version[group]
    assert figures.incidents == incidents
    assert figures.spreads == {
        "first communication": first,
        "workaround": workaround,
        "resolution": resolution,
    }
    assert figures.tell_delay == {"support": support}


def test_counts_per_month_reminders_post_mortems_and_follow_ups() -> None:
    due = NOW + timedelta(days=3)
    followups = {
        "i1": FollowUp(item_id="i1", name="x", owner="bob", board_id="b1", made_at=DEC, due=due),
        "i2": FollowUp(item_id="i2", name="y", owner="bob", board_id="b1", made_at=DEC, due=DEC),
        "i3": FollowUp(
            item_id="i3", name="z", owner="bob", board_id="b1", made_at=DEC, due=DEC, done_at=DEC
        ),
    }
    table = [*TABLE[:4], TABLE[4].model_copy(update={"followups": followups})]
    every = insights(table, REMINDERS, NOW, STOCKHOLM).every
    assert every.per_month == {
        "2026-11": {"-": 1, "critical": 1, "minor": 1},
        "2026-12": {"-": 1, "critical": 1},
    }
    assert every.trend["2026-11"]["first communication"] == 20 * M
    assert every.trend["2026-12"]["resolution"] == 50 * M
    assert (every.reminders_median, every.reminders_most) == (1.0, 5)  # c needed none: 0
    # a closed by its deadline; b closed after it; d past it and open; e not due yet
    assert every.postmortems == PostMortems(on_time=1, late=2, not_yet_due=1)
    assert (every.followups, every.followups_open, every.followups_late) == (3, 2, 1)


def test_since_leaves_out_the_incidents_declared_before() -> None:
    found = insights(TABLE, REMINDERS, NOW, STOCKHOLM, since=DEC)
    assert found.every.incidents == 2 and list(found.by_version) == ["v2"]
    assert insights([], {}, NOW, STOCKHOLM).every.spreads["resolution"] == Spread()
