"""What a card shows, folded into the incident; what is left to carry out (pure, from tables)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.factories import TEMPLATE, a_policy
from worker.core import observe, rules
from worker.core import trello_json as tj
from worker.core.model import (
    AddChecklists,
    Comment,
    CommItem,
    Effect,
    Ended,
    Incident,
    RefreshHeader,
    SetDue,
)
from worker.template import Moment, Stage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy()
DECLARED = tuple(c.name for c in TEMPLATE.for_stage(Stage.DECLARED))
RESOLVED = tuple(c.name for c in TEMPLATE.for_stage(Stage.RESOLVED))


def incident(**changes: object) -> Incident:
    found, _ = rules.declare("c1", "Checkout is down", "b1", by="alice", at=T0, policy=POLICY)
    return found.model_copy(update=changes)


def test_known_communication_items_are_followed_by_id_not_by_name() -> None:
    name = TEMPLATE.communication(Moment.DETECTION)[1].name
    on_card = [
        tj.Checklist(
            "cl1",
            "Until the problem is resolved",
            (
                tj.Item("i1", "Tell everyone (renamed by a person)", True),
                tj.Item("i2", name, False),
            ),
        )
    ]
    known = {
        Moment.DETECTION: CommItem(checklist_id="cl1", item_id="i1", name=name),
        Moment.WORKAROUND: CommItem(checklist_id="cl1", item_id="gone", name="x"),
    }
    found = observe.comm_items_on_card(TEMPLATE, on_card, known)
    assert found == {
        Moment.DETECTION: CommItem(
            checklist_id="cl1",
            item_id="i1",
            name="Tell everyone (renamed by a person)",
            ticked=True,
        ),
        Moment.WORKAROUND: None,  # removed by a person
        Moment.RESOLUTION: None,  # never known, and not on the card by its name
    }
    assert observe.comm_items_on_card(TEMPLATE, [], {}) == {}


@pytest.mark.parametrize(
    ("changes", "effects", "expected"),
    [
        # the stage's checklists are named; one already got, or removed by a person, is not
        (
            {},
            [AddChecklists("c1", Stage.DECLARED)],
            [AddChecklists("c1", Stage.DECLARED, DECLARED)],
        ),
        (
            {"checklists": {DECLARED[0]: "x"}},
            [AddChecklists("c1", Stage.DECLARED)],
            [AddChecklists("c1", Stage.DECLARED, DECLARED[1:])] if DECLARED[1:] else [],
        ),
        (
            {"removed_checklists": DECLARED},
            [AddChecklists("c1", Stage.DECLARED)],
            [],
        ),
        # repeats are carried out once, in the order first asked
        (
            {},
            [RefreshHeader("c1"), Comment("c1", "k", "t"), RefreshHeader("c1")],
            [RefreshHeader("c1"), Comment("c1", "k", "t")],
        ),
        # an incident that has ended only says so and shows it
        (
            {"ended": Ended.STOOD_DOWN, "ended_at": T0},
            [
                AddChecklists("c1", Stage.RESOLVED),
                SetDue("c1", T0),
                RefreshHeader("c1"),
                Comment("c1", "stood-down", "t"),
            ],
            [RefreshHeader("c1"), Comment("c1", "stood-down", "t")],
        ),
        (
            {},
            [AddChecklists("c1", Stage.RESOLVED), SetDue("c1", T0)],
            [AddChecklists("c1", Stage.RESOLVED, RESOLVED), SetDue("c1", T0)],
        ),
    ],
)
def test_settle_says_what_is_left_to_carry_out(
    changes: dict[str, object], effects: list[Effect], expected: list[Effect]
) -> None:
    assert rules.settle(incident(**changes), effects, POLICY) == expected


def test_checklists_found_are_recorded_with_their_communication_items_and_ticks() -> None:
    start = incident()
    detection_list, detection_item = TEMPLATE.communication(Moment.DETECTION)
    on_card = (
        tj.Checklist("cl1", detection_list.name, (tj.Item("i1", detection_item.name, True),)),
    )
    after = observe.checklists_found(start, {detection_list.name: "cl1"}, on_card, POLICY)
    assert after.checklists == {detection_list.name: "cl1"}
    assert after.comm_items[Moment.DETECTION] == CommItem(
        checklist_id="cl1", item_id="i1", name=detection_item.name, ticked=True
    )
    assert after.items == {"cl1": {"i1": True}}


def test_a_message_is_stamped_told_when_its_item_is_first_seen_ticked() -> None:
    from datetime import timedelta

    from tests.factories import an_event, an_incident

    start = an_incident(POLICY, T0)
    ticked = an_event(
        tj.CheckItemChanged,
        T0 + timedelta(minutes=4),
        checklist_id="cl1",
        item_id="i-detection",
        item_name="detection",
        complete=True,
    )
    decided = rules.on_event(start, ticked, POLICY, {})
    assert decided is not None
    told = decided[0]
    assert told.communicated == {Moment.DETECTION: T0 + timedelta(minutes=4)}
    again = rules.on_event(told, replace(ticked, at=T0 + timedelta(hours=1)), POLICY, {})
    assert again is not None and again[0].communicated == told.communicated  # the first time stays
    # an item found ticked by a reconcile pass is stamped with the pass's time
    later = T0 + timedelta(minutes=30)
    items = {**told.comm_items}
    items[Moment.WORKAROUND] = items[Moment.WORKAROUND].model_copy(update={"ticked": True})
    assert observe.communicated(
        told.model_copy(update={"comm_items": items}), later
    ).communicated == {
        Moment.DETECTION: T0 + timedelta(minutes=4),
        Moment.WORKAROUND: later,
    }
