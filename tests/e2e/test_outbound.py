"""Signed outbound webhooks under SIGKILL: the worker is killed after a receiver got an event
and before the worker recorded it as sent; started again, it sends it again with the same
`webhook-id`, and the receiver, keeping the ids it has seen as the specification expects,
handles each event once."""

from __future__ import annotations

import base64
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import StageFactory
from tests.factories import http_receiver
from worker.demo import wait_for

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


def test_an_event_sent_before_a_sigkill_is_handled_once(make_stage: StageFactory) -> None:
    ids: list[str] = []  # every delivery's id, in order
    events: dict[str, dict[str, Any]] = {}
    kill = threading.Event()
    killed = threading.Event()
    scene_box: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            event = Webhook(SECRET).verify(body, dict(self.headers.items()))
            ids.append(self.headers["webhook-id"])
            events.setdefault(self.headers["webhook-id"], event)
            if kill.is_set() and not killed.is_set():
                killed.set()  # the worker dies before it hears back: it never records "sent"
                process = scene_box[0].process
                process.send_signal(signal.SIGKILL)
                process.wait()
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with http_receiver(Handler) as port:
        scene = make_stage(
            INCIDENT_OUTBOUND_URLS=f"http://127.0.0.1:{port}/hooks",
            INCIDENT_OUTBOUND_SECRET=SECRET,
        )
        scene_box.append(scene)
        scene.start_worker()
        kill.set()
        card = scene.declare("Checkout is down", timeout=60)
        wait_for(killed.is_set, "the kill after the first delivery", 30)
        scene.process = None
        scene.start_worker()
        scene.person("alice").comment(card, "/sev 2")
        wait_for(
            lambda: any(e["data"]["event"] == "severity" for e in events.values()),
            "the severity event",
            60,
        )
        scene.wait_for_cycles(3)
        assert scene.stop_worker() == 0
    assert len(ids) > len(set(ids))  # one event was delivered twice ...
    kinds = [e["data"]["event"] for e in events.values()]
    assert sorted(kinds) == ["declared", "roles", "severity"]  # ... and handled once
