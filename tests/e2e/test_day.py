"""A scripted day of incidents, played calm, under faults, through an outage, and under SIGKILL.

Two boards, three incidents at once, every phase, roles, reminders, a post mortem to the end,
a stand-down. The calm run is the reference; the others must end the same: the same comments
(reminders aside: their count depends on timing, but none may repeat), checklists, headers
and attachments, nothing twice, nothing missing, and the worker never exits on its own.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest

from tests.e2e.conftest import FAST
from tests.e2e.harness import Stage, stage
from tests.e2e.test_crash import Killer, timeless
from worker.demo import wait_for

# one xdist worker plays them all, so the calm reference is played once
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("day")]

COMMUNICATE = "Consider communicating: "
DAY = {
    **FAST,
    "INCIDENT_POLL_SECONDS": "0.3",
    "INCIDENT_RECONCILE_SECONDS": "2",
    "INCIDENT_REMINDER_SECONDS": "3",
    "INCIDENT_MEETING_URL": "https://meet.example.com/war-room",
}
PATIENCE = 90.0  # seconds any one step may take under faults and restarts


def play_day(scene: Stage) -> list[str]:
    """The day; returns the three cards once the worker has caught up with all of it."""
    one, two = scene.board_ids
    alice, bob, carol, dave = (scene.person(n) for n in ("alice", "bob", "carol", "dave"))

    def said(card: str, fragment: str) -> None:
        scene.wait_for_comment(card, fragment, timeout=PATIENCE)

    checkout = alice.create_card(one, "Checkout is down").id
    search = bob.create_card(two, "Search is slow").id
    mail = carol.create_card(one, "Emails are late").id
    alice.label(checkout, "Incident")
    bob.label(search, "Incident")
    said(checkout, "Incident declared")
    said(search, "Incident declared")
    alice.comment(checkout, "/communicator @bob\n/delvers @carol @dave")
    bob.comment(search, "/communicator @carol\n/quickfixers @dave")
    said(checkout, "Noted")
    said(search, "Noted")
    said(checkout, "@bob, *Consider communicating: When we first notice")  # late: a reminder
    bob.tick(checkout, COMMUNICATE + "When we first notice")
    carol.tick(search, COMMUNICATE + "When we first notice")
    carol.label(mail, "Incident")
    said(mail, "Incident declared")
    dave.comment(checkout, "/workaround payments through the backup provider")
    said(checkout, "Workaround in place")
    bob.tick(checkout, COMMUNICATE + "When there is some workaround")
    bob.label(search, "Resolved")
    said(search, "please book the post-mortem meeting")
    carol.tick(search, COMMUNICATE + "When the problems are resolved")
    alice.label(mail, "Incident", remove=True)
    said(mail, "stood down")
    carol.move(checkout, "Done")
    said(checkout, "please book the post-mortem meeting")
    bob.tick(checkout, COMMUNICATE + "When the problems are resolved")
    for item in ("CTO and product owner", "The discussion should be facilitated"):
        carol.tick(search, item)
    said(search, "**Closed.**")
    for card in (checkout, search):
        wait_for(lambda c=card: scene.drafted(c), "the draft attached", PATIENCE)  # type: ignore[misc]
        wait_for(
            lambda c=card: "- Follow-up: " in scene.card(c)["desc"],  # type: ignore[misc]
            "the follow-up card",
            PATIENCE,
        )
    wait_for(
        lambda: (
            "Phase: **resolved**" in scene.card(checkout)["desc"]
            and "Phase: **closed**" in scene.card(search)["desc"]
            and "stood down" in scene.card(mail)["desc"]
        ),
        "the headers",
        PATIENCE,
    )
    return [checkout, search, mail]


def outcome(scene: Stage, cards: list[str]) -> list[dict[str, Any]]:
    """Each card as a person sees the worker's part of it, without times and markers."""
    seen = []
    for card_id in cards:
        card = scene.card(card_id)
        texts = scene.worker_comments(card_id)
        markers = re.findall(r"`(iw:[^`]+)`", "\n".join(texts))
        assert len(markers) == len(set(markers)) == len(texts), "a comment was posted twice"
        seen.append(
            {
                "comments": Counter(
                    timeless(text.rsplit("\n\n`iw:", 1)[0])
                    for text in texts
                    if not text.startswith("Reminder ")
                ),
                "checklists": [
                    (c["name"], sorted((i["name"], i["state"]) for i in c["checkItems"]))
                    for c in card["checklists"]
                ],
                "header": timeless(card["desc"]),
                "attachments": sorted(scene.attachments(card_id)),
            }
        )
    return seen


@pytest.fixture(scope="module")
def calm() -> list[dict[str, Any]]:
    with stage(boards=2, settings=DAY) as scene:
        scene.start_worker()
        cards = play_day(scene)
        scene.wait_for_cycles(3)
        result = outcome(scene, cards)
        assert any(text.startswith("Reminder ") for text in scene.worker_comments(cards[0]))
        assert scene.stop_worker() == 0
    return result


def worker_token(scene: Stage) -> str:
    return scene.sandbox.members["worker"].token


def test_a_day_under_faults_ends_as_a_calm_day(calm: list[dict[str, Any]]) -> None:
    secrets = {}
    faulty = {**DAY, "INCIDENT_HTTP_TIMEOUT_SECONDS": "0.45", "INCIDENT_RETRY_ATTEMPTS": "3"}
    with stage(boards=2, settings=faulty) as scene:
        secrets = {
            "key": scene.sandbox.api_key,
            "token": worker_token(scene),
            "app secret": scene.sandbox.app_secret,
        }
        scene.start_worker(options=["--log-level", "DEBUG"])
        # about one request in five fails: 429/500/503, dropped before or after being
        # applied, or slower (0-500 ms added) than the worker's 0.45 s read timeout
        scene.sandbox.faults.configure(
            error_rate=0.07,
            statuses=(429, 500, 503),
            drop_rate=0.03,
            drop_after_rate=0.02,
            latency=(0.0, 0.5),
            seed=2026,
            only_tokens=[worker_token(scene)],
        )
        cards = play_day(scene)
        scene.wait_for_cycles(3, timeout=PATIENCE)
        # only the worker's requests are faulted (the people act on a healthy Trello)
        failed = [r for r in scene.sandbox.request_log if r.status in (0, 429, 500, 503)]
        assert len(failed) > 10, "faults never hit"
        assert outcome(scene, cards) == calm
        assert scene.worker_running  # never exited
        assert scene.stop_worker() == 0
        log = scene.worker_log()
    assert "DEBUG" in log and "urllib3" in log
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} is in the worker's log"


@pytest.mark.xdist_group("outage")  # needs no calm day: runs beside the others
def test_trello_gone_for_a_minute_is_logged_once_per_board_and_caught_up() -> None:
    with stage(boards=2, settings={**DAY, "INCIDENT_RETRY_ATTEMPTS": "2"}) as scene:
        scene.start_worker()
        alice = scene.person("alice")
        card = alice.create_card(scene.board_ids[0], "During the outage").id
        # Trello goes away for the worker: every one of its requests is dropped, unanswered
        scene.sandbox.faults.configure(drop_rate=1.0, only_tokens=[worker_token(scene)])
        alice.label(card, "Incident")

        def outage_seconds() -> float:
            refused = [r.time for r in scene.sandbox.request_log if r.status == 0]
            return (refused[-1] - refused[0]).total_seconds() if refused else 0.0

        wait_for(lambda: scene.worker_log().count("will keep trying") >= 2, "the outage noted")
        # the worker keeps knocking for a whole minute before Trello comes back
        wait_for(lambda: outage_seconds() >= 60, "a minute of outage", PATIENCE)
        scene.sandbox.faults.reset()
        scene.wait_for_comment(card, "Incident declared", timeout=PATIENCE)
        scene.wait_for_cycles(2)
        log = scene.worker_log()
        assert log.count("(will keep trying)") == 2, "the outage is logged once per board"
        assert log.count("Trello answers again") == 2
        assert "retrying" not in log  # each request's retries are not news at INFO
        texts = scene.worker_comments(card)
        assert sum(text.startswith("**Incident declared**") for text in texts) == 1
        assert len(set(re.findall(r"`(iw:[^`]+)`", "\n".join(texts)))) == len(texts)
        assert scene.stop_worker() == 0


def test_a_day_with_thirty_sigkills_ends_as_a_calm_day(calm: list[dict[str, Any]]) -> None:
    with stage(boards=2, settings=DAY) as scene:
        scene.start_worker()
        # the two template cards take ~40 changes; the day about 60 more: 30 kills among them
        after = sorted(random.Random(30).sample(range(45, 105), 30))
        with Killer(scene, after) as killer:
            cards = play_day(scene)
        assert killer.kills >= 20, killer.kills
        scene.wait_for_cycles(3, timeout=PATIENCE)
        assert outcome(scene, cards) == calm
        assert scene.stop_worker() == 0
