"""Signed outbound webhooks, to a real local receiver that verifies them with the Standard
Webhooks library and keeps the ids it has seen, as the specification asks of receivers."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.factories import (
    http_receiver,
    served_worker,
)

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Received:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}  # webhook-id -> event, each once
        self.deliveries = 0
        self.refused = 0


@pytest.fixture
def receiver() -> Iterator[tuple[int, Received]]:
    got = Received()
    verifier = Webhook(SECRET)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            try:
                event = verifier.verify(body, dict(self.headers.items()))
            except Exception:
                got.refused += 1
                self.send_response(401)
                self.end_headers()
                return
            got.deliveries += 1
            got.events.setdefault(self.headers["webhook-id"], event)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with http_receiver(Handler) as port:
        yield port, got


def test_each_incident_event_is_posted_signed_once(
    tmp_path: Path, receiver: tuple[int, Received]
) -> None:
    port, got = receiver
    with served_worker(
        tmp_path,
        INCIDENT_OUTBOUND_URLS=f"http://127.0.0.1:{port}/hooks",
        INCIDENT_OUTBOUND_SECRET=SECRET,
    ) as (worker, alice, sb):
        card = alice.create_card(sb.board_ids[0], "Checkout is down").id
        alice.label(card, "Incident")
        worker.cycle(reconcile=False)
        alice.comment(card, "/communicator @bob\n/sev 2\n/update failing over")
        worker.cycle(reconcile=False)
        alice.comment(card, "/tell support\n/resolved payments are back")
        for _ in range(3):
            worker.cycle(reconcile=True)
    kinds = sorted(event["data"]["event"] for event in got.events.values())
    assert kinds == sorted(["declared", "roles", "roles", "severity", "update", "told", "resolved"])
    assert got.refused == 0 and got.deliveries == len(got.events)  # each id once
    declared = next(e for e in got.events.values() if e["data"]["event"] == "declared")
    assert declared["type"] == "incident.declared"
    assert (declared["data"]["incident"], declared["data"]["card"]) == ("Checkout is down", card)
    assert declared["data"]["card_url"].startswith("https://trello.com/c/")
    told = next(e for e in got.events.values() if e["data"]["event"] == "told")
    assert (told["data"]["audience"], told["data"]["moment"]) == ("support", "noticed")
    assert json.dumps(got.events).count(SECRET) == 0
