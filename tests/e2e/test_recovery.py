"""What survives: a deleted database, a second worker on the same file by mistake, a second
worker with a database of its own on the same board."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import IncidentFactory, StageFactory, SupportFactory, cards_on
from tests.e2e.harness import Stage
from worker.demo import read_log, wait_for

pytestmark = pytest.mark.e2e


def database(scene: Stage) -> Path:
    return Path(scene.env["INCIDENT_DATABASE_URL"].removeprefix("sqlite:///"))


def delete_database(scene: Stage) -> None:
    main = database(scene)
    for path in (main, Path(f"{main}-wal"), Path(f"{main}-shm")):
        path.unlink(missing_ok=True)


def test_a_deleted_database_is_rebuilt_from_the_cards_without_repeating_a_comment(
    declared_incident: IncidentFactory,
) -> None:
    scene, card = declared_incident("Checkout is down")
    alice, bob = scene.person("alice"), scene.person("bob")
    alice.comment(card, "/communicator @bob\n/workaround payments via the backup provider")
    scene.wait_for_comment(card, "Workaround in place")
    scene.wait_for_comment(card, "Noted")  # the same comment's reply comes after
    before = scene.worker_comments(card)
    assert scene.stop_worker() == 0
    assert stat.S_IMODE(os.stat(database(scene)).st_mode) == 0o600

    delete_database(scene)
    scene.start_worker()
    wait_for(lambda: "rebuilt from the card" in scene.worker_log(), "the incident rebuilt")
    assert "the database is new" in scene.worker_log()
    scene.wait_for_cycles(3)
    assert scene.worker_comments(card) == before  # nothing posted twice
    assert len([c for c in scene.card(card)["checklists"]]) == 1

    bob.label(card, "Resolved")  # the rebuilt incident carries on where it was
    resolved = scene.wait_for_comment(card, "**Resolved**")
    assert "@bob: tell" in resolved
    assert sum("**Resolved**" in t for t in scene.worker_comments(card)) == 1
    assert "Communicator: @bob" in scene.card(card)["desc"]
    assert scene.stop_worker() == 0


def test_a_deleted_database_still_means_one_incident_card(
    declared_from_support: SupportFactory,
) -> None:
    scene, source, _ = declared_from_support("Customer cannot pay")
    told = scene.wait_for_comment(source, "run on its own card")
    assert scene.stop_worker() == 0

    delete_database(scene)
    scene.start_worker()
    wait_for(lambda: "found the card made before" in scene.worker_log(), "the card found")
    scene.wait_for_cycles(3)
    open_cards = [card["name"] for card in cards_on(scene, scene.board_ids[1])]
    assert open_cards == ["Incident: Customer cannot pay"]
    assert scene.worker_comments(source) == [told]
    assert scene.stop_worker() == 0


def test_a_second_worker_on_the_same_file_refuses_and_status_still_works(
    make_stage: StageFactory,
) -> None:
    scene = make_stage()
    scene.start_worker()
    second = scene.run("run", "--once")
    assert second.returncode == 1
    message = second.stderr.strip()
    assert message.count("\n") == 0, message
    assert message.startswith("incident-worker: Another worker (pid ")
    assert str(scene.process.pid if scene.process else "") in message
    assert str(database(scene)) in message
    status = scene.run("status")
    assert status.returncode == 0, status.stderr
    assert scene.stop_worker() == 0
    again = scene.run("run", "--once")  # the first one is gone: the file is free
    assert again.returncode == 0, again.stderr


def test_a_second_worker_with_a_database_of_its_own_leaves_the_board_alone(
    make_stage: StageFactory,
) -> None:
    """As when the worker is started from two folders, or on two servers, by mistake."""
    scene = make_stage()
    scene.start_worker()
    other_log = scene.folder / "other.log"
    elsewhere = {"INCIDENT_DATABASE_URL": f"sqlite:///{scene.folder / 'elsewhere.sqlite3'}"}
    scene.launch(other_log, settings=elsewhere)
    said = wait_for(
        lambda: next(
            (line for line in read_log(other_log).splitlines() if "is kept by another" in line),
            None,
        ),
        "the second worker to leave the board alone",
        30,
    )
    assert f"(process {scene.process.pid if scene.process else ''})" in said
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Checkout is down").id
    alice.label(card, "Incident")
    scene.wait_for_comment(card, "Incident declared")
    scene.wait_for_cycles(3)  # the first's cycles; the second's run alongside
    declared = [t for t in scene.worker_comments(card) if t.startswith("**Incident declared")]
    assert len(declared) == 1
    state = scene.sandbox.state
    with state.lock:
        made = [c for c in state.cards.values() if c.closed and "Incident template" in c.name]
    assert len(made) == 1  # the second made no template card
    assert read_log(other_log).count("is kept by another") == 1  # said once
