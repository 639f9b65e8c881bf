"""Follow-ups, in-process against the served sandbox: each item of the post mortem's
follow-ups checklist becomes one card, linked both ways, owned and due; done on either side
completes the other; the owner is reminded; it outlives the incident."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from tests.factories import (
    StepClock,
    in_process_worker,
    sandbox_values,
    served_worker,
    worker_comments,
)
from worker.core import header
from worker.core.business_days import add_business_days
from worker.demo import Person
from worker.ops.status import followups_table
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox
from worker.sandbox.model import Card
from worker.settings import load_settings

Scene = tuple[Worker, Person, Sandbox]


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    with served_worker(tmp_path, INCIDENT_FOLLOWUP_DAYS="3") as (worker, alice, sb):
        alice.client.get_board(sb.board_ids[0]).add_list("Follow-ups", pos="bottom")
        yield worker, alice, sb


def resolved_incident(worker: Worker, alice: Person, sb: Sandbox) -> str:
    card = str(alice.create_card(sb.board_ids[0], "Checkout is down").id)
    alice.label(card, "Incident")
    worker.cycle(reconcile=False)
    alice.comment(card, "/lead @carol")
    alice.label(card, "Resolved")
    worker.cycle(reconcile=False)
    return card


def add_item(alice: Person, card_id: str, text: str) -> None:
    (checklist,) = [c for c in alice.client.get_card(card_id).checklists if c.name == "Follow-ups"]
    checklist.add_checklist_item(text)


def followup_cards(sb: Sandbox) -> list[Card]:
    with sb.state.lock:
        (lst,) = [
            x for x in sb.state.records.board_lists(sb.board_ids[0]) if x.name == "Follow-ups"
        ]
        return [c for c in sb.state.records.board_cards(sb.board_ids[0]) if c.list_id == lst.id]


def item_ticked(sb: Sandbox, card_id: str, starts: str) -> bool:
    with sb.state.lock:
        card = sb.state.records.card(card_id)
        for checklist_id in card.checklist_ids:
            for item in sb.state.records.checklist(checklist_id).items:
                if item.name.startswith(starts):
                    return item.state == "complete"
    raise LookupError(starts)


def attachment_urls(sb: Sandbox, card_id: str) -> list[str]:
    with sb.state.lock:
        card = sb.state.records.card(card_id)
        found = [sb.state.records.attachments[a].url for a in card.attachment_ids]
    return [url for url in found if url is not None]  # links, not the draft's files


def test_each_item_becomes_one_card_linked_owned_and_due(scene: Scene) -> None:
    worker, alice, sb = scene
    clock = cast(StepClock, worker.clock)
    card = resolved_incident(worker, alice, sb)
    add_item(alice, card, "Alert before the disk fills @bob")
    worker.cycle(reconcile=True)
    worker.cycle(reconcile=True)  # again: nothing made twice
    made = sorted(followup_cards(sb), key=lambda c: c.name)
    assert [c.name for c in made] == [
        "Alert before the disk fills @\u200bbob",
        "Update the incident response document with the learnings from this incident.",
    ]
    bob, carol = sb.members["bob"].id, sb.members["carol"].id
    assert [c.member_ids for c in made] == [[bob], [carol]]  # the one mentioned, else the lead
    due = add_business_days(clock.now, 3, worker.policy.timezone)
    for followup in made:
        assert followup.due is not None
        shown = datetime.fromisoformat(followup.due.replace("Z", "+00:00"))
        assert abs(shown - due) < timedelta(milliseconds=1)  # Trello keeps milliseconds
        incident_link = f"https://trello.com/c/{sb.state.records.card(card).short_link}"
        assert attachment_urls(sb, followup.id) == [incident_link]
        assert "Checkout is down" in followup.desc
    assert sorted(attachment_urls(sb, card)) == sorted(
        f"https://trello.com/c/{c.short_link}" for c in made
    )
    incident = worker.store.incidents.get(card)
    assert incident is not None and len(incident.followups) == 2
    shown = sb.state.records.card(card).desc
    assert header.render(incident) in shown
    assert shown.count("- Follow-up: ") == 2 and "· @bob · due" in shown


def test_done_on_either_side_completes_the_other(scene: Scene) -> None:
    worker, alice, sb = scene
    card = resolved_incident(worker, alice, sb)
    add_item(alice, card, "Alert before the disk fills @bob")
    worker.cycle(reconcile=True)
    by_name = {c.name[:5]: c for c in followup_cards(sb)}
    alice.client.get_card(by_name["Alert"].id).set_due_complete()
    alice.tick(card, "Update the incident response document")
    worker.cycle(reconcile=True)
    assert item_ticked(sb, card, "Alert before the disk fills")
    assert sb.state.records.card(by_name["Updat"].id).due_complete
    incident = worker.store.incidents.get(card)
    assert incident is not None and not incident.followups_open
    assert sorted(f.done_how for f in incident.followups.values()) == [
        "marked complete",
        "ticked on the incident card",
    ]
    assert followups_table([incident], worker.clock()) == "No open follow-ups."


def test_the_owner_is_reminded_once_each_time_and_it_outlives_the_incident(scene: Scene) -> None:
    worker, alice, sb = scene
    clock = cast(StepClock, worker.clock)
    card = resolved_incident(worker, alice, sb)
    worker.cycle(reconcile=True)
    (followup,) = followup_cards(sb)
    alice.archive(card)  # the incident ends; its follow-up goes on
    worker.cycle(reconcile=True)
    incident = worker.store.incidents.get(card)
    assert incident is not None and not incident.open and incident.followups_open
    (recorded,) = incident.followups.values()
    assert "open" in followups_table([incident], clock.now)
    clock.now = recorded.due + timedelta(minutes=1)
    worker.cycle(reconcile=False)
    worker.cycle(reconcile=False)
    said = worker_comments(sb, followup.id)
    assert len(said) == 1 and said[0].startswith("@carol: this follow-up from the incident")
    assert "is due now" in said[0]
    assert "late" in followups_table([incident], clock.now)
    alice.move(followup.id, "Done")
    worker.cycle(reconcile=True)
    incident = worker.store.incidents.get(card)
    assert incident is not None and not incident.followups_open
    assert [f.done_how for f in incident.followups.values()] == ["moved to Done"]
    assert item_ticked(sb, card, "Update the incident response document")
    clock.advance(days=30)
    worker.cycle(reconcile=False)
    assert len(worker_comments(sb, followup.id)) == 1  # done: no more reminders


def test_on_a_board_of_their_own_the_cards_are_made_and_followed_there(tmp_path: Path) -> None:
    sb = Sandbox.seeded(boards=2)
    incidents, actions = sb.board_ids
    with sb.serve() as server:
        values = sandbox_values(
            sb, server, f"sqlite:///{tmp_path}/w.sqlite3", INCIDENT_FOLLOWUP_BOARD_ID=actions
        )
        alice = Person(sb, server.url, "alice")
        settings = load_settings(values, env_file=None)
        try:
            with in_process_worker(settings, clock=StepClock(datetime.now(UTC))) as worker:
                worker.cycle(reconcile=True)
                card = resolved_incident(worker, alice, sb)
                worker.cycle(reconcile=True)
                with sb.state.lock:
                    lists = {x.name: x.id for x in sb.state.records.board_lists(actions)}
                    (made,) = [
                        c
                        for c in sb.state.records.board_cards(actions)
                        if c.list_id == lists.get("Follow-ups")
                    ]
                assert made.member_ids == [sb.members["carol"].id]
                assert sb.state.records.card(card).board_id == incidents
                alice.move(made.id, "Done")  # a resolved list of the other board
                worker.cycle(reconcile=True)
                assert item_ticked(sb, card, "Update the incident response document")
                incident = worker.store.incidents.get(card)
                assert incident is not None and not incident.followups_open
        finally:
            alice.close()
