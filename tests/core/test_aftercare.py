"""After resolution, from tables: deadline, post-mortem reminders, closing, re-opening."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import MEMBERS, TEMPLATE, a_policy, an_event
from worker.core import aftercare, reminders, rules
from worker.core import trello_json as ev
from worker.core.model import (
    AddChecklists,
    AttachReport,
    CardView,
    Comment,
    Incident,
    Phase,
    SetDue,
)
from worker.template import Stage

POLICY = a_policy(
    TEMPLATE,
    "w0",
    postmortem_attendees=("cto", "po"),
    template_url="https://git.example.com/ops/incident-template.md",
)
FRIDAY = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
PM, MEETING = "Post mortem", "Meeting agenda"


event = an_event


def investigating() -> Incident:
    new, _ = rules.declare(
        "c1", "Checkout is down", "b1", by="alice", at=FRIDAY - timedelta(hours=3), policy=POLICY
    )
    return new.model_copy(update={"communicator": "bob"})


def resolved(**update: object) -> Incident:
    new, _ = rules.on_event(
        investigating(), event(ev.LabelAdded, FRIDAY, label="Resolved"), POLICY, MEMBERS
    )
    assert new is not None
    checklists = {PM: "pm", MEETING: "meet", "Until the problem is resolved": "main"}
    items = {"pm": {"p1": False, "p2": False}, "meet": {"m1": False, "m2": False}}
    return new.model_copy(update={"checklists": checklists, "items": items, **update})


def keys(effects: list[object]) -> list[str]:
    return [a.key for a in effects if isinstance(a, Comment)]


def test_resolving_sets_the_deadline_and_asks_for_the_meeting() -> None:
    new, effects = rules.on_event(
        investigating(), event(ev.LabelAdded, FRIDAY, label="Resolved"), POLICY, MEMBERS
    )
    assert new is not None
    assert new.postmortem_due == TUESDAY and new.resolutions == 1
    assert SetDue("c1", TUESDAY) in effects
    assert AddChecklists("c1", Stage.RESOLVED) in effects
    assert AttachReport("c1") in effects
    assert keys(effects) == ["phase-resolved", "postmortem"]
    (ask,) = [a for a in effects if isinstance(a, Comment) and a.key == "postmortem"]
    assert "@alice, please book the post-mortem meeting before Tue 10 Mar 15:00 UTC" in ask.text
    assert "Invite @cto, @po" in ask.text
    assert "@bob facilitates" in ask.text


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (FRIDAY + timedelta(hours=1), []),
        (datetime(2026, 3, 9, 14, 59, tzinfo=UTC), []),
        (datetime(2026, 3, 9, 15, 0, tzinfo=UTC), ["pm-eve"]),  # one business day before
        (TUESDAY, ["pm-due"]),
        (TUESDAY + timedelta(hours=23), ["pm-due"]),
        (TUESDAY + timedelta(days=1), ["pm-late-1"]),
        (datetime(2026, 3, 14, 12, 0, tzinfo=UTC), ["pm-late-3"]),  # Saturday: still Friday's
        (datetime(2026, 3, 16, 15, 0, tzinfo=UTC), ["pm-late-4"]),
    ],
)
def test_postmortem_reminders(now: datetime, expected: list[str]) -> None:
    reminders = aftercare.postmortem_reminders(resolved(), now, POLICY)
    assert [c.key for c in reminders] == expected
    assert all("@alice" in c.text for c in reminders)


def test_no_postmortem_reminders_once_its_checklist_is_complete() -> None:
    done = resolved(items={"pm": {"p1": True, "p2": True}, "meet": {}})
    assert aftercare.postmortem_reminders(done, TUESDAY + timedelta(days=3), POLICY) == []


def tick(
    incident: Incident, checklist: str, item: str, at: datetime
) -> tuple[Incident, list[object]]:
    happening = event(
        ev.CheckItemChanged, at, checklist_id=checklist, item_id=item, item_name="x", complete=True
    )
    new, effects = rules.on_event(incident, happening, POLICY, MEMBERS)
    assert new is not None
    return new, list(effects)


def test_the_meeting_done_refreshes_the_draft_once() -> None:
    current, effects = tick(resolved(), "meet", "m1", TUESDAY)
    assert effects == [] and not current.meeting_done
    current, effects = tick(current, "meet", "m2", TUESDAY)
    assert effects == [AttachReport("c1")] and current.meeting_done
    again, effects = tick(current, "meet", "m2", TUESDAY)
    assert effects == [] and again == current


def test_the_postmortem_complete_closes_the_incident() -> None:
    current, _ = tick(resolved(), "pm", "p1", TUESDAY)
    assert current.phase is Phase.RESOLVED
    current, effects = tick(current, "pm", "p2", TUESDAY)
    assert current.phase is Phase.CLOSED and current.phase_started[Phase.CLOSED] == TUESDAY
    (thanks,) = [a for a in effects if isinstance(a, Comment)]
    assert thanks.key == "closed"
    assert thanks.text == (
        "**Closed.** The post mortem is done: thank you, everyone. Learnings belong in the "
        "template, so the next incident gets them: https://git.example.com/ops/incident-template.md"
    )
    assert SetDue("c1", current.postmortem_due, complete=True) in effects  # the deadline is met
    assert AttachReport("c1") in effects  # the last draft on the card matches the card
    assert reminders.due(current, TUESDAY + timedelta(days=10), POLICY)[1] == []


def test_closing_without_a_template_url_names_no_file() -> None:
    plain = replace(POLICY, template_url=None)
    done = resolved(items={"pm": {"p1": True, "p2": True}, "meet": {"m1": True, "m2": True}})
    current, effects = aftercare.progress(done, TUESDAY, plain)
    assert current.phase is Phase.CLOSED
    (thanks,) = [e for e in effects if isinstance(e, Comment)]
    assert thanks.text == (
        "**Closed.** The post mortem is done: thank you, everyone. Learnings belong in the "
        "incident template, so the next incident gets them."
    )


@pytest.mark.parametrize(
    ("happening", "back"),
    [
        (event(ev.LabelRemoved, TUESDAY, label="Resolved"), Phase.INVESTIGATING),
        (event(ev.CardMoved, TUESDAY, list_before="Done", list_after="Doing"), Phase.INVESTIGATING),
    ],
)
def test_reopening_goes_back_and_resolving_again_starts_afresh(
    happening: ev.Event, back: Phase
) -> None:
    current, effects = rules.on_event(resolved(), happening, POLICY, MEMBERS)
    assert current is not None
    assert current.phase is back and not current.reached(Phase.RESOLVED)
    assert current.postmortem_due is None and SetDue("c1", None) in effects
    assert keys(effects) == ["reopened"]
    again, effects = rules.on_event(
        current,
        event(ev.LabelAdded, TUESDAY + timedelta(hours=1), label="Resolved"),
        POLICY,
        MEMBERS,
    )
    assert again is not None and again.resolutions == 2
    assert keys(effects) == ["phase-resolved-r2", "postmortem-r2"]


def test_a_move_between_other_lists_reopens_nothing() -> None:
    current = resolved()
    happening = event(ev.CardMoved, TUESDAY, list_before="To Do", list_after="Doing")
    assert rules.on_event(current, happening, POLICY, MEMBERS) == (current, [])


def test_reconcile_closes_from_the_ticks_it_reads_off_the_card() -> None:
    view = CardView(
        "c1",
        frozenset({"incident", "resolved"}),
        "Done",
        frozenset({"pm", "meet", "main"}),
        {"pm": {"p1": True, "p2": True}, "meet": {"m1": True, "m2": True}},
    )
    current, effects = rules.reconcile(resolved(), view, TUESDAY, POLICY)
    assert current.phase is Phase.CLOSED and current.meeting_done
    assert AttachReport("c1") in effects and "closed" in keys(effects)
