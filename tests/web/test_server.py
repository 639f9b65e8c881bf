"""The webhook receiver served by waitress, as strangers and slow clients meet it."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from worker.runtime.inbox import Inbox
from worker.web.webhooks import WebhookApp, WebhookServer, signature

SECRET = "s3cr3t" * 8
CALLBACK = "http://127.0.0.1/trello/hook"


@pytest.fixture
def served() -> Iterator[tuple[str, threading.Event, list[dict[str, Any]]]]:
    release, handled = threading.Event(), []

    def handle(payload: dict[str, Any]) -> None:  # as a worker busy with a long cycle
        release.wait(30)
        handled.append(payload)

    inbox = Inbox(handle)
    app = WebhookApp(CALLBACK, SecretStr(SECRET), inbox.put, lambda: (True, {"last_poll": {}}))
    server = WebhookServer(app, "127.0.0.1:0")
    inbox.start()
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", release, handled
    finally:
        release.set()
        server.stop()
        inbox.close()


def post(base: str, body: bytes, sign: str) -> int:
    request = urllib.request.Request(
        f"{base}/trello/hook", data=body, headers={"X-Trello-Webhook": sign}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return int(answer.status)


def delivery(n: int) -> bytes:
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return json.dumps({"action": {"id": f"a{n}", "date": date, "type": "commentCard"}}).encode()


def test_deliveries_are_acknowledged_while_the_worker_is_busy(
    served: tuple[str, threading.Event, list[dict[str, Any]]],
) -> None:
    base, release, handled = served
    for n in range(10):  # more than the server has threads
        body = delivery(n)
        assert post(base, body, signature(SECRET, body, CALLBACK)) == 200
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
        assert answer.status == 200
    assert handled == []  # none handled yet: the worker is busy
    release.set()
    deadline = time.monotonic() + 10
    while len(handled) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p["action"]["id"] for p in handled] == [f"a{n}" for n in range(10)]  # in order


def test_idle_connections_cannot_starve_the_health_check(
    served: tuple[str, threading.Event, list[dict[str, Any]]],
) -> None:
    base, _, _ = served
    port = int(base.rsplit(":", 1)[1])
    with ExitStack() as idle:
        for _ in range(150):  # more than waitress' default connection limit (100)
            sock = idle.enter_context(socket.create_connection(("127.0.0.1", port)))
            sock.sendall(b"POST /trello/hook HTTP/1.1\r\nHost: x\r\n")  # and never finish
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
            assert answer.status == 200


def test_a_body_over_a_mebibyte_is_refused_before_it_is_stored(
    served: tuple[str, threading.Event, list[dict[str, Any]]],
) -> None:
    base, _, handled = served
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /trello/hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")
    assert handled == []


def test_cards_that_arrived_are_looked_at_once_after_a_burst_of_deliveries() -> None:
    """The inbox says when no delivery waits any more: once after many, not once each."""
    release, handled, idled = threading.Event(), [], []
    done = threading.Event()

    def handle(payload: dict[str, Any]) -> None:
        release.wait(30)
        handled.append(payload["n"])

    def idle() -> None:
        idled.append(len(handled))
        done.set()

    inbox = Inbox(handle, idle=idle)
    inbox.start()
    try:
        for n in range(5):
            inbox.put({"n": n})
        release.set()
        assert done.wait(10)
    finally:
        inbox.close()
    assert handled == [0, 1, 2, 3, 4] and idled == [5]
