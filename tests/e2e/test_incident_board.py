"""Declaring from anywhere: a label on a support card opens one incident card, linked both ways.

Two boards: "Incidents" is the support board people work on, "Incidents 2" is the incident
board (INCIDENT_BOARD_ID).
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    IncidentFactory,
    StageFactory,
    SupportFactory,
    cards_on,
    checklist_names,
    two_boards,
)
from tests.e2e.harness import Stage
from tests.e2e.test_crash import Killer
from worker.core.header import FIRST_LINE
from worker.demo import wait_for

pytestmark = pytest.mark.e2e


def incident_card(scene: Stage, board_id: str) -> str:
    found = wait_for(lambda: cards_on(scene, board_id), "the incident card")
    assert len(found) == 1, found
    return str(found[0]["id"])


def links(scene: Stage, card_id: str) -> list[str]:
    state = scene.sandbox.state
    with state.lock:
        card = state.card(card_id)
        return [state.attachments[a].url or "" for a in card.attachment_ids]


def test_a_label_on_a_support_card_opens_one_incident_card_linked_both_ways(
    declared_from_support: SupportFactory,
) -> None:
    scene, source, card_id = declared_from_support("Customer cannot pay", list_name="To Do")
    incidents = scene.board_ids[1]
    assert len(cards_on(scene, incidents)) == 1
    declared = scene.wait_for_comment(card_id, "Incident declared")
    assert "Lead: @alice" in declared
    card = scene.card(card_id)
    assert card["name"] == "Incident: Customer cannot pay"
    assert checklist_names(card) == ["Until the problem is resolved"]
    assert card["desc"].startswith(FIRST_LINE)
    source_card = scene.card(source)
    wait_for(lambda: source_card["shortUrl"] in links(scene, card_id), "the link to the source")
    wait_for(lambda: card["shortUrl"] in links(scene, source), "the link on the source card")
    told = scene.wait_for_comment(source, "run on its own card")
    assert card["shortUrl"] in told

    scene.wait_for_cycles(6)  # several feed reads and reconcile passes: still exactly one
    assert len(cards_on(scene, incidents)) == 1
    assert len(scene.worker_comments(source)) == 1
    assert links(scene, source).count(card["shortUrl"]) == 1
    assert scene.stop_worker() == 0


def test_phases_count_from_either_card_and_the_source_stands_it_down(
    declared_from_support: SupportFactory,
) -> None:
    scene, source, card_id = declared_from_support("Search returns nothing")
    alice, bob = scene.person("alice"), scene.person("bob")

    bob.comment(source, "/workaround reindexing by hand")
    assert "reindexing by hand" in scene.wait_for_comment(card_id, "Workaround in place")
    alice.comment(card_id, "/communicator @bob")  # the lead names the roles
    scene.wait_for_comment(card_id, "Noted")
    bob.move(source, "Done")
    scene.wait_for_comment(card_id, "**Resolved**")
    assert "Phase: **resolved**" in scene.card(card_id)["desc"]

    alice.label(source, "Incident", remove=True)
    scene.wait_for_comment(card_id, "stood down")
    scene.wait_for_comment(source, "stood down")
    assert scene.stop_worker() == 0


def test_one_incident_card_even_when_killed_between_making_and_recording_it(
    make_stage: StageFactory,
) -> None:
    scene, support, incidents = two_boards(make_stage)
    alice = scene.person("alice")
    source = alice.create_card(support, "Killed at the worst moment")
    scene.start_worker()

    def cards_made(stage: Stage) -> int:
        return sum(
            1
            for r in stage.sandbox.request_log
            if r.member_username == "incident-worker"
            and r.method == "POST"
            and r.path == "/1/cards"
        )

    with Killer(scene, [cards_made(scene) + 1], count=cards_made) as killer:
        alice.label(source.id, "Incident")
        card_id = incident_card(scene, incidents)
        scene.wait_for_comment(card_id, "Incident declared", timeout=60)
    assert killer.kills == 1
    scene.wait_for_cycles(4, timeout=60)
    assert len(cards_on(scene, incidents)) == 1
    assert len(scene.worker_comments(card_id)) == 1
    assert len(scene.worker_comments(source.id)) == 1


def test_all_hands_by_the_lead_and_refused_for_others(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident(
        "Everything is down", INCIDENT_MEETING_URL="https://meet.example.com/war-room"
    )
    alice, dave = scene.person("alice"), scene.person("dave")

    dave.comment(card, "/allhands I think we need everyone")
    refused = scene.wait_for_comment(card, "can call all hands")
    assert refused.startswith("@dave: only @alice can call all hands")
    assert "@board" not in refused

    alice.comment(card, "/allhands the database is gone")
    called = scene.wait_for_comment(card, "**All hands**")
    assert "@board" in called and "the database is gone" in called
    assert "https://meet.example.com/war-room" in called
    assert sum("**All hands**" in t for t in scene.worker_comments(card)) == 1
    assert scene.stop_worker() == 0


def test_declare_puts_the_card_straight_on_the_incident_board(make_stage: StageFactory) -> None:
    scene, support, incidents = two_boards(make_stage, INCIDENT_LIST="Doing")
    done = scene.run("declare", "Payments are slow")
    assert done.returncode == 0, done.stderr
    assert scene.run("run", "--once").returncode == 0
    (card,) = cards_on(scene, incidents)
    assert card["name"] == "Payments are slow"
    assert cards_on(scene, support) == []
    assert scene.worker_comments(card["id"])
    state = scene.sandbox.state
    with state.lock:
        placed = state.card(card["id"])
        assert state.trello_list(placed.list_id).name == "Doing"
