"""Kill the worker with SIGKILL anywhere: the card ends as if it had never died.

One scripted incident is played once without interruption, then again several times while
the worker is SIGKILLed right after a randomly chosen (seeded, so a failure can be replayed)
change it makes on Trello, and started again at once: the kill lands between adding a
checklist and recording it, between posting a comment and marking it sent, and so on. At the
end the worker's comments, the checklists and the header must be the same as in the
uninterrupted run: nothing twice, nothing lost.
"""

from __future__ import annotations

import random
import re
import signal
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import FAST, StageFactory
from tests.e2e.harness import Stage, stage
from worker.demo import wait_for

pytestmark = pytest.mark.e2e

COMMUNICATE = "Consider communicating: "
SEEDS = [11, 23, 37, 41, 59, 67, 73, 89]


def play(scene: Stage) -> str:
    """The scripted incident; returns the card id once the worker has caught up with it."""
    alice, bob, carol = scene.person("alice"), scene.person("bob"), scene.person("carol")
    card_id = scene.declare("Checkout is down", timeout=60)
    alice.comment(card_id, "/communicator @bob\n/delvers @carol @dave")
    scene.wait_for_comment(card_id, "Noted", timeout=60)
    bob.tick(card_id, COMMUNICATE + "When we first notice")
    carol.label(card_id, "Workaround")
    scene.wait_for_comment(card_id, "Workaround in place", timeout=60)
    bob.tick(card_id, COMMUNICATE + "When there is some workaround")
    carol.move(card_id, "Done")
    scene.wait_for_comment(card_id, "**Resolved**", timeout=60)
    wait_for(lambda: len(scene.card(card_id)["checklists"]) == 4, "the post mortem checklists", 60)
    bob.tick(card_id, COMMUNICATE + "When the problems are resolved")
    wait_for(lambda: "Communicator: @bob" in scene.card(card_id)["desc"], "the header", 60)
    wait_for(lambda: scene.drafted(card_id), "the post-mortem draft", 60)
    wait_for(lambda: "- Follow-up: " in scene.card(card_id)["desc"], "the follow-up card", 60)
    return card_id


TIMES = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d UTC|\w{3} \d\d \w{3} \d\d:\d\d \w+|\d+ (h|min|s)\b"
    r"|https://trello\.com/c/\w+"  # a card made in the run (a follow-up's)
)


def timeless(text: str) -> str:
    """`text` with its clock times, durations and the links to cards made in the run masked:
    runs happen at different times and make different cards."""
    return TIMES.sub("<t>", text)


def outcome(scene: Stage, card_id: str) -> dict[str, Any]:
    """What a person sees of the worker's work on the card, without times and markers."""
    card = scene.card(card_id)
    comments = [timeless(text.rsplit("\n\n`iw:", 1)[0]) for text in scene.worker_comments(card_id)]
    header = timeless(card["desc"])
    return {
        "comments": Counter(comments),
        "checklists": [
            (c["name"], [(i["name"], i["state"]) for i in c["checkItems"]])
            for c in card["checklists"]
        ],
        "header": header,
        "attachments": sorted(scene.attachments(card_id)),
    }


def worker_writes(scene: Stage) -> int:
    """How many changes the worker has made on Trello so far."""
    return sum(
        1
        for r in scene.sandbox.request_log
        if r.member_username == "incident-worker" and r.method in ("POST", "PUT", "DELETE")
    )


class Killer:
    """SIGKILLs the worker right after its n-th change to Trello, for each n in `after_writes`.

    `count` counts the changes (every write by default; a test may count only some).

    Dying just after a change reached Trello, before the worker could record it, is the
    moment that would make it repeat itself; the worker is started again at once.
    """

    def __init__(
        self,
        scene: Stage,
        after_writes: list[int],
        count: Callable[[Stage], int] = worker_writes,
    ):
        self.scene = scene
        self.targets = sorted(after_writes)
        self.count = count
        self.kills = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for target in self.targets:
            while self.count(self.scene) < target:
                if self._done.wait(0.002):
                    return
            if self.scene.worker_running:
                self.scene.stop_worker(signal.SIGKILL)
                self.kills += 1
                self.scene.start_worker(wait=False)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


SLOW = {"INCIDENT_RECONCILE_SECONDS": "2"}


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    with stage(settings={**FAST, **SLOW}) as scene:
        scene.sandbox.faults.configure(latency=(0.01, 0.04), seed=1)
        scene.start_worker()
        card_id = play(scene)
        scene.wait_for_cycles(3)
        result = outcome(scene, card_id)
        assert scene.stop_worker() == 0
    return result


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_random_moments_changes_nothing(
    make_stage: StageFactory, expected: dict[str, Any], seed: int
) -> None:
    scene = make_stage(**SLOW)
    scene.sandbox.faults.configure(latency=(0.01, 0.04), seed=seed)
    scene.start_worker()
    # the template card takes the first ~22 changes; the incident the next ~15
    after = random.Random(seed).sample(range(2, 38), 4)
    with Killer(scene, after) as killer:
        card_id = play(scene)
    assert killer.kills >= 1
    scene.wait_for_cycles(3, timeout=60)
    assert outcome(scene, card_id) == expected
    assert sum(expected["comments"].values()) == 5  # declared, noted, 2 phases, post mortem
    assert expected["attachments"] == [
        "Follow-up: Update the incident response document with the learnings from this incident.",
        "post-mortem-timeline.png",
        "post-mortem.md",
    ]


def cards_made(scene: Stage) -> int:
    """How many cards the worker has made so far."""
    return sum(
        1
        for r in scene.sandbox.request_log
        if r.member_username == "incident-worker" and r.method == "POST" and r.path == "/1/cards"
    )


def followup_cards(scene: Stage) -> list[tuple[str, list[str]]]:
    """The cards in the Follow-ups list, each with its links' URLs."""
    state = scene.sandbox.state
    with state.lock:
        lists = [x.id for x in state.board_lists(scene.board_ids[0]) if x.name == "Follow-ups"]
        return [
            (card.name, [str(state.attachments[a].url) for a in card.attachment_ids])
            for card in state.board_cards(scene.board_ids[0])
            if card.list_id in lists
        ]


def test_sigkill_between_making_a_follow_up_card_and_recording_it_makes_each_once(
    make_stage: StageFactory,
) -> None:
    scene = make_stage(**SLOW)
    scene.start_worker()
    alice = scene.person("alice")
    card_id = scene.declare("Checkout is down", timeout=60)
    alice.move(card_id, "Done")
    wait_for(lambda: len(scene.card(card_id)["checklists"]) == 4, "the post mortem's", 60)
    assert scene.stop_worker() == 0
    (actions,) = [c for c in alice.client.get_card(card_id).checklists if c.name == "Follow-ups"]
    for n in range(1, 4):
        actions.add_checklist_item(f"Follow-up {n} @bob")
    before = cards_made(scene)
    scene.start_worker()
    with Killer(scene, [1, 2, 3], count=lambda s: cards_made(s) - before) as killer:
        wait_for(lambda: len(followup_cards(scene)) >= 4, "four follow-up cards", 90)
        wait_for(lambda: all(links for _, links in followup_cards(scene)), "their links", 90)
    assert killer.kills >= 1
    scene.wait_for_cycles(3, timeout=60)
    made = followup_cards(scene)
    assert sorted(name for name, _ in made) == [
        "Follow-up 1 @\u200bbob",
        "Follow-up 2 @\u200bbob",
        "Follow-up 3 @\u200bbob",
        "Update the incident response document with the learnings from this incident.",
    ]
    incident_url = scene.card(card_id)["shortUrl"]
    assert [links for _, links in made] == [[incident_url]] * 4  # one link back each
    state = scene.sandbox.state
    with state.lock:
        links = [
            state.attachments[a].url
            for a in state.card(card_id).attachment_ids
            if state.attachments[a].url
        ]
    assert len(links) == len(set(links)) == 4
    assert scene.stop_worker() == 0
