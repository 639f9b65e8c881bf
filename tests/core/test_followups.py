"""Follow-ups decided from tables: who owns one, which items become one, when one is done,
and which reminder is due when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import a_policy, an_incident
from worker.core import followups
from worker.core.followups import CardSide
from worker.core.model import Ended, FollowUp, RefreshHeader, SetDue, TickItem
from worker.core.trello_json import Checklist, Item

POLICY = a_policy(followup_days=10)
#: Friday 4 December 2026, 10:00 UTC (the policy's time zone is UTC)
FRIDAY = datetime(2026, 12, 4, 10, tzinfo=UTC)
MEMBERS = {"alice": "m1", "Bob_2": "m2", "carol": "m3"}
INCIDENT = an_incident(POLICY, FRIDAY - timedelta(days=3), lead="carol")


@pytest.mark.parametrize(
    ("text", "lead", "owner"),
    [
        ("Fix the alerts @bob_2 and @alice", "carol", "Bob_2"),  # first member, the board's case
        ("Ask @stranger, then @alice", "carol", "alice"),  # not a member: the next mention
        ("Fix the alerts", "carol", "carol"),  # no mention: the lead
        ("Fix the alerts", None, "alice"),  # no lead: whoever declared
        ("mail ops@alice.example", "carol", "carol"),  # an address is no mention
        ("`@alice` in code still names her", "carol", "alice"),
    ],
)
def test_the_owner_is_the_first_member_mentioned_else_the_lead(
    text: str, lead: str | None, owner: str
) -> None:
    incident = INCIDENT.model_copy(update={"lead": lead})
    assert followups.owner_of(text, incident, MEMBERS) == owner


def a_followup(**update: object) -> FollowUp:
    values: dict[str, object] = {
        "item_id": "it1",
        "name": "Fix the alerts",
        "owner": "bob",
        "board_id": "b1",
        "card_id": "fu1",
        "url": "https://trello.com/c/fu1",
        "made_at": FRIDAY,
        "due": FRIDAY + timedelta(days=14),
    }
    return FollowUp.model_validate({**values, **update})


def test_found_makes_one_per_new_unticked_item_due_in_business_days() -> None:
    incident = INCIDENT.model_copy(update={"followups": {"it1": a_followup()}})
    checklist = Checklist(
        "cl9",
        "Follow-ups",
        (
            Item("it1", "Fix the alerts", False),  # known already
            Item("it2", "↳ Write the runbook @alice", False),  # nested in the template
            Item("it3", "Done in the meeting", True),  # ticked before it was seen
        ),
    )
    new = followups.found(incident, checklist, FRIDAY, POLICY, board_id="b7", members=MEMBERS)
    assert [(f.item_id, f.name, f.owner, f.board_id, f.card_id) for f in new] == [
        ("it2", "Write the runbook @alice", "alice", "b7", "")
    ]
    # ten business days from a Friday: the Friday two weeks later, same time
    assert new[0].due == datetime(2026, 12, 18, 10, tzinfo=UTC)
    assert new[0].made_at == FRIDAY


SEEN_OPEN = CardSide(list_name="Follow-ups")


@pytest.mark.parametrize(
    ("ticked", "side", "how", "effects"),
    [
        (False, SEEN_OPEN, "", []),
        (None, None, "", []),  # nothing seen: nothing concluded
        (True, SEEN_OPEN, "ticked on the incident card", [SetDue("fu1", None, complete=True)]),
        (True, None, "ticked on the incident card", [SetDue("fu1", None, complete=True)]),
        (True, CardSide(due_complete=True), "ticked on the incident card", []),
        (False, CardSide(list_name="Done"), "moved to Done", [TickItem("c1", item_id="it1")]),
        (False, CardSide(closed=True), "archived", [TickItem("c1", item_id="it1")]),
        (False, CardSide(due_complete=True), "marked complete", [TickItem("c1", item_id="it1")]),
        # the incident card not seen (archived, say): ticked if it still has the item
        (None, CardSide(due_complete=True), "marked complete", [TickItem("c1", item_id="it1")]),
        (False, CardSide(gone=True), "its card was deleted", []),
    ],
)
def test_done_on_one_side_completes_the_other(
    ticked: bool | None, side: CardSide | None, how: str, effects: list[object]
) -> None:
    followup = a_followup()
    done, got = followups.compare(
        INCIDENT, followup, ticked=ticked, side=side, now=FRIDAY, policy=POLICY
    )
    assert done.done_how == how
    assert (done.done_at == FRIDAY) is bool(how)
    expected = [
        SetDue(e.card_id, followup.due, complete=True) if isinstance(e, SetDue) else e
        for e in effects
    ]
    assert got == ([*expected, RefreshHeader("c1")] if how else [])


def test_nothing_is_ticked_on_a_deleted_incident_card() -> None:
    deleted = INCIDENT.model_copy(update={"ended": Ended.DELETED, "ended_at": FRIDAY})
    done, got = followups.compare(
        deleted, a_followup(), ticked=None, side=CardSide(closed=True), now=FRIDAY, policy=POLICY
    )
    assert done.done_how == "archived" and got == [RefreshHeader("c1")]


def test_a_done_follow_up_or_one_without_a_card_is_left_alone() -> None:
    done = a_followup(done_at=FRIDAY, done_how="archived")
    unmade = a_followup(card_id="")
    for followup in (done, unmade):
        assert followups.compare(
            INCIDENT, followup, ticked=True, side=None, now=FRIDAY, policy=POLICY
        ) == (followup, [])
        assert followups.reminders(INCIDENT, followup, FRIDAY + timedelta(days=60), POLICY) == []


DUE = datetime(2026, 12, 18, 10, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("now", "key"),
    [
        (datetime(2026, 12, 16, 10, tzinfo=UTC), None),  # two business days before
        (datetime(2026, 12, 17, 10, tzinfo=UTC), "eve"),  # one business day before
        (datetime(2026, 12, 18, 10, tzinfo=UTC), "due"),
        (datetime(2026, 12, 24, 10, tzinfo=UTC), "due"),  # four business days late
        (datetime(2026, 12, 25, 10, tzinfo=UTC), "late-1"),  # five
        (datetime(2027, 1, 1, 11, tzinfo=UTC), "late-2"),  # ten
    ],
)
def test_the_owner_is_reminded_before_on_and_each_week_after_the_due_date(
    now: datetime, key: str | None
) -> None:
    followup = a_followup(due=DUE)
    got = followups.reminders(INCIDENT, followup, now, POLICY)
    assert [c.key for c in got] == ([] if key is None else [f"fu-it1-{key}"])
    for comment in got:
        assert comment.card_id == "fu1"
        assert comment.text.startswith("@bob: this follow-up from the incident Checkout is down")


def test_the_card_names_the_incident_and_carries_the_items_marker() -> None:
    name, desc = followups.card_text(
        INCIDENT, a_followup(name="Fix @board's **alerts**"), "https://trello.com/c/inc"
    )
    assert name == "Fix @\u200bboard's **alerts**"  # a plain-text field: no live mention
    assert "[Checkout is down](https://trello.com/c/inc)" in desc
    assert "owned by @bob" in desc
    assert desc.endswith("`iw-fu:it1`")
