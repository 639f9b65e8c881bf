"""The post mortem end to end: deadline, draft and picture, reminders, closing, re-opening.

The sandbox's clock is set so that the incident happened at a chosen time (Trello dates its
actions by it); the worker keeps the real time, so a deadline can be put just ahead of it,
or long past.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import IncidentFactory, checklist_names
from tests.e2e.harness import Stage
from worker.demo import wait_for
from worker.report.draft import PICTURE_NAME, REPORT_NAME

pytestmark = pytest.mark.e2e

COMMUNICATE = "Consider communicating: "


def running_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` now and runs at the real pace."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


@pytest.fixture
def resolved_incident(declared_incident: IncidentFactory) -> IncidentFactory:
    """Make a stage on `settings` (and the sandbox's `clock`) with an incident declared by
    @alice, @bob communicating, worked around and resolved, every message sent: the stage and
    the card's id."""

    def resolve(clock: Callable[[], datetime] | None = None, **settings: str) -> tuple[Stage, str]:
        scene, card = declared_incident("Checkout is down", clock=clock, **settings)
        alice, bob = scene.person("alice"), scene.person("bob")
        alice.comment(card, "/communicator @bob")
        scene.wait_for_comment(card, "Noted")
        for moment in ("When we first notice", "When there is some workaround"):
            bob.tick(card, COMMUNICATE + moment)
        alice.comment(card, "/workaround payments through the backup provider")
        scene.wait_for_comment(card, "Workaround in place")
        bob.label(card, "Resolved")
        scene.wait_for_comment(card, "please book the post-mortem meeting")
        bob.tick(card, COMMUNICATE + "When the problems are resolved")
        return scene, card

    return resolve


def test_a_friday_resolution_is_due_on_tuesday_and_late_reminders_follow(
    resolved_incident: IncidentFactory,
) -> None:
    friday = datetime(2026, 3, 6, 14, 58, tzinfo=UTC)  # long past: the deadline is too
    scene, card_id = resolved_incident(
        clock=running_from(friday),
        INCIDENT_POSTMORTEM_ATTENDEES="carol, @dave",
        INCIDENT_POSTMORTEM_FACILITATOR="carol",
    )

    card = scene.card(card_id)
    due = datetime.fromisoformat(card["due"].replace("Z", "+00:00"))
    assert due.date().isoformat() == "2026-03-10" and due.weekday() == 1  # Tuesday
    ask = scene.wait_for_comment(card_id, "please book")
    assert "@carol, @dave" in ask and "@carol facilitates" in ask
    assert checklist_names(card) == [
        "Until the problem is resolved",
        "Post mortem",
        "Meeting agenda",
        "Follow-ups",
    ]

    files = wait_for(lambda: scene.drafted(card_id), "the draft attached")
    draft = scene.attachment_bytes(files[REPORT_NAME]).decode()
    assert draft.startswith("# Post mortem: Checkout is down")
    assert "payments through the backup provider" in draft
    assert scene.attachment_bytes(files[PICTURE_NAME]).startswith(b"\x89PNG\r\n\x1a\n")

    late = scene.wait_for_comment(card_id, "business days ago")
    assert late.startswith("@alice: the post mortem was due Tue 10 Mar")
    assert scene.stop_worker() == 0


def test_reminders_before_and_on_the_deadline_then_meeting_closing_and_reopening(
    resolved_incident: IncidentFactory,
) -> None:
    # Trello's clock runs a few seconds ahead of the worker's, and the deadline is the moment
    # of resolution (0 business days): the worker first sees it ahead, then reached.
    scene, card_id = resolved_incident(
        clock=running_from(datetime.now(UTC) + timedelta(seconds=6)),
        INCIDENT_POSTMORTEM_DAYS="0",
    )
    alice, carol = scene.person("alice"), scene.person("carol")

    scene.wait_for_comment(card_id, "Is the meeting booked?")  # one business day before
    scene.wait_for_comment(card_id, "the post mortem is due now", timeout=30)

    first = wait_for(lambda: scene.drafted(card_id), "the draft attached")
    for item in ("Timeline:", "How did this affect", "Reflect on the post mortem"):
        carol.tick(card_id, item)
    refreshed = wait_for(
        lambda: (
            (found := scene.drafted(card_id)) is not None
            and found[REPORT_NAME] != first[REPORT_NAME]
            and found
        ),
        "the draft refreshed",
    )
    drafts = [name for name in refreshed if name.endswith((".md", ".png"))]
    assert sorted(drafts) == sorted([REPORT_NAME, PICTURE_NAME])  # replaced, not piled up
    assert "ticked “Reflect on the post mortem" in scene.attachment_bytes(
        refreshed[REPORT_NAME]
    ).decode().replace("\\", "")

    for item in ("CTO and product owner", "The discussion should be facilitated"):
        carol.tick(card_id, item)
    closed = scene.wait_for_comment(card_id, "**Closed.**")
    assert "thank you" in closed and "Learnings belong in the incident template" in closed
    assert "Phase: **closed**" in scene.card(card_id)["desc"]
    count = len(scene.worker_comments(card_id))
    scene.wait_for_cycles(5)
    assert len(scene.worker_comments(card_id)) == count  # no reminders after closing

    alice.label(card_id, "Resolved", remove=True)
    reopened = scene.wait_for_comment(card_id, "Re-opened")
    assert "back to *workaround*" in reopened
    wait_for(lambda: scene.card(card_id)["due"] is None, "the due date cleared")
    assert "Phase: **workaround**" in scene.card(card_id)["desc"]
    assert scene.stop_worker() == 0


def test_report_prints_the_draft_and_refuses_a_card_that_is_no_incident(
    resolved_incident: IncidentFactory,
) -> None:
    scene, card_id = resolved_incident()
    assert scene.stop_worker() == 0
    short_link = scene.card(card_id)["shortLink"]

    printed = scene.run("report", short_link)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("# Post mortem: Checkout is down")
    assert "## Meeting agenda" in printed.stdout

    plain = scene.person("alice").create_card(scene.board_ids[0], "Just a card")
    refused = scene.run("report", plain.id)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0
    assert "is not an incident" in refused.stderr

    missing = scene.run("report", "nosuchcard")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
