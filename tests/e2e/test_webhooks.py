"""Webhooks end to end: the sandbox delivers, the real worker process reacts in about a second."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import StageFactory
from tests.e2e.harness import Stage

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_stage(make_stage: StageFactory, feed_seconds: str) -> tuple[Stage, str]:
    port = free_port()
    callback = f"http://127.0.0.1:{port}/trello/hook"
    scene = make_stage(
        INCIDENT_WEBHOOK="true",
        INCIDENT_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        INCIDENT_WEBHOOK_CALLBACK_URL=callback,
        INCIDENT_WEBHOOK_POLL_SECONDS=feed_seconds,
        INCIDENT_POLL_SECONDS="1",
    )
    return scene, f"http://127.0.0.1:{port}"


def healthz(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)
    except OSError:
        return 0


def test_a_label_gets_its_checklists_within_a_second_and_a_half(make_stage: StageFactory) -> None:
    scene, base = webhook_stage(make_stage, feed_seconds="60")
    scene.start_worker()  # returns after the first feed read
    assert healthz(base) == 200
    registered = scene.run("webhook", "register")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert "registered webhook" in registered.stdout
    again = scene.run("webhook", "register")
    assert "kept webhook" in again.stdout and again.returncode == 0

    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Checkout is down")
    labelled = time.monotonic()
    alice.label(card.id, "Incident")
    scene.wait_for_comment(card.id, "Incident declared", timeout=10)
    took = time.monotonic() - labelled
    assert [c["name"] for c in scene.card(card.id)["checklists"]] == [
        "Until the problem is resolved"
    ]
    assert took <= 1.5, f"reaction took {took:.2f} s"

    listed = scene.run("webhook", "list")
    assert scene.board_ids[0] in listed.stdout and "yes" in listed.stdout
    deleted = scene.run("webhook", "delete")
    assert "Deleted webhook" in deleted.stdout
    assert "No webhooks." in scene.run("webhook", "list").stdout
    assert scene.stop_worker() == 0


def test_an_action_delivered_and_read_from_the_feed_is_handled_once(
    make_stage: StageFactory,
) -> None:
    scene, _ = webhook_stage(make_stage, feed_seconds="0.3")
    scene.start_worker()
    assert scene.run("webhook", "register").returncode == 0
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Seen twice")
    alice.label(card.id, "Incident")
    alice.comment(card.id, "/communicator @bob\n/workaround restarted the cache")
    scene.wait_for_comment(card.id, "Workaround in place")
    assert scene.sandbox.wait_for_deliveries(10)
    scene.wait_for_cycles(5)  # the feed has brought every action again by now
    delivered = {d.action_id for d in scene.sandbox.deliveries if d.outcome == "delivered"}
    assert len(delivered) > 3
    texts = scene.worker_comments(card.id)
    assert len(texts) == 3, texts  # declared, noted, workaround: each once
    assert scene.stop_worker() == 0


def test_forged_deliveries_change_nothing(make_stage: StageFactory) -> None:
    scene, base = webhook_stage(make_stage, feed_seconds="0.5")
    scene.start_worker()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Not really")
    action = {
        "id": "f" * 24,
        "type": "addLabelToCard",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "idMemberCreator": scene.sandbox.members["alice"].id,
        "memberCreator": {"id": scene.sandbox.members["alice"].id, "username": "alice"},
        "data": {
            "card": {"id": card.id, "name": "Not really"},
            "board": {"id": scene.board_ids[0]},
            "label": {"id": "x", "name": "Incident", "color": "red"},
        },
    }
    body = json.dumps({"action": action}).encode()
    forged = urllib.request.Request(
        f"{base}/trello/hook",
        data=body,
        headers={"X-Trello-Webhook": "Zm9yZ2Vk", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    scene.wait_for_cycles(2)
    assert scene.worker_comments(card.id) == []
    assert "webhook: refused deliveries with a wrong signature: 1" in scene.worker_log()
    assert "Logging error" not in scene.worker_log()
    assert scene.stop_worker() == 0


def test_stopping_with_deliveries_in_flight_is_quick_quiet_and_json(
    make_stage: StageFactory,
) -> None:
    """Deliveries pour in, the worker is stopped: it exits at once, every log line is JSON,
    and no line is a traceback."""
    from worker.web.webhooks import signature

    scene, base = webhook_stage(make_stage, feed_seconds="60")
    scene.start_worker(options=["--log-format", "json"])
    secret, callback = scene.env["TRELLO_APP_SECRET"], f"{base}/trello/hook"
    board = scene.board_ids[0]
    for n in range(40):
        action = {
            "id": f"{n:024x}",
            "type": "commentCard",
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "idMemberCreator": scene.sandbox.members["alice"].id,
            "memberCreator": {"id": scene.sandbox.members["alice"].id, "username": "alice"},
            "data": {"text": "hello", "card": {"id": "c" * 24}, "board": {"id": board}},
        }
        body = json.dumps({"action": action}).encode()
        request = urllib.request.Request(
            callback, data=body, headers={"X-Trello-Webhook": signature(secret, body, callback)}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
    began = time.monotonic()
    assert scene.stop_worker() == 0
    assert time.monotonic() - began < 10
    lines = scene.worker_log().splitlines()
    assert lines and all(json.loads(line) for line in lines)
    assert not any("Traceback" in line or "Logging error" in line for line in lines)
