"""The post-mortem draft, composed in one place: Markdown and picture from the card's history.

The executor attaches it on resolution (and again when the meeting is done); `incident-worker
report CARD` prints its Markdown. Both compose it here, from the same history, incident and
policy, so what is attached and what is printed never differ.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker.core.model import Incident, Phase, Policy
from worker.errors import PictureError
from worker.report.picture import render_png
from worker.report.timeline import Report, build_report, render_markdown

REPORT_NAME = "post-mortem.md"
PICTURE_NAME = "post-mortem-timeline.png"


@dataclass(frozen=True)
class Draft:
    markdown: str
    png: bytes | None  # None when the picture could not be drawn (the Markdown says it all)
    #: why there is no picture, when there is none
    trouble: str = ""


History = Sequence[dict[str, Any]]
Members = Mapping[str, str] | None


def report_of(incident: Incident, history: History, policy: Policy, members: Members) -> Report:
    """The timeline and metrics of `incident`, from its card's history (oldest first).

    `members`: the board's, by username; a role given to someone else did not take effect, and
    the draft does not say it did (None: take everyone the history names to be on the board).
    """
    return build_report(
        list(history),
        card_name=incident.name,
        template_version=incident.template_version,
        policy=policy,
        members=members,
        closed=incident.phase is Phase.CLOSED,
    )


def markdown(incident: Incident, history: History, policy: Policy, members: Members) -> str:
    """The draft's Markdown alone (what `report` prints)."""
    report = report_of(incident, history, policy, members)
    return render_markdown(
        report, policy.template, policy.timezone, tuple(incident.followups.values())
    )


def compose(
    incident: Incident,
    history: History,
    policy: Policy,
    members: Members,
    *,
    stop: threading.Event | None = None,
) -> Draft:
    """The draft and its picture (drawn in a process of its own: see `worker.report.picture`).

    A picture that cannot be drawn (or is cut short because the worker is stopping: `stop`)
    leaves the draft without one, saying why (`trouble`); the next draft has it again.
    """
    report = report_of(incident, history, policy, members)
    markdown = render_markdown(
        report, policy.template, policy.timezone, tuple(incident.followups.values())
    )
    try:
        return Draft(markdown, render_png(report, policy.timezone, stop=stop))
    except PictureError as exc:
        return Draft(markdown, None, str(exc))
