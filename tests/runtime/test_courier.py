"""`/tell` delivered to people's channels: a real local SMTP server (aiosmtpd) and a real local
HTTP receiver (Apprise's JSON notifications), the worker in-process against the sandbox."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import (
    http_receiver,
    served_worker,
    worker_comments,
)
from worker.demo import Person
from worker.mailbox import LocalInbox
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox
from worker.store.tables import outbox


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[LocalInbox]:
    with LocalInbox() as inbox:
        yield inbox


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            got.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with http_receiver(Handler) as port:
        yield port, got


def test_tell_reaches_each_channel_once_with_one_receipt(
    tmp_path: Path,
    smtp: LocalInbox,
    receiver: tuple[int, list[dict[str, Any]]],
) -> None:
    inbox, (http_port, posted) = smtp, receiver
    mail = inbox.channel("support@example.com")
    channels = {
        "support": [mail, f"json://127.0.0.1:{http_port}/hook"],
        "auction-houses": [f"json://127.0.0.1:{free_port()}/nobody-listens"],
    }
    with served_worker(tmp_path, INCIDENT_CHANNELS=json.dumps(channels)) as (worker, alice, sb):
        play(worker, alice, sb, inbox, posted)


def play(
    worker: Worker, alice: Person, sb: Sandbox, inbox: LocalInbox, posted: list[dict[str, Any]]
) -> None:
    card = alice.create_card(sb.board_ids[0], "Checkout is down").id
    alice.label(card, "Incident")
    worker.cycle(reconcile=False)
    alice.comment(card, "/tell support We are on it: payments fail at checkout.")
    for _ in range(3):
        worker.cycle(reconcile=False)
    (mail,) = inbox.mails
    assert mail.to == ("support@example.com",)
    assert mail.subject == "Checkout is down (noticed)"
    assert mail.body.strip() == "We are on it: payments fail at checkout."
    assert [p["message"] for p in posted] == ["We are on it: payments fail at checkout."]
    assert posted[0]["title"] == "Checkout is down (noticed)"
    receipts = [t for t in worker_comments(sb, card) if t.startswith("**Sent**")]
    assert [r.split("\n\n`iw:")[0] for r in receipts] == [
        "**Sent** to support: mailto sent; json sent."
    ]

    alice.comment(card, "/tell auction-houses")  # the ready message, to a dead channel
    worker.cycle(reconcile=False)
    receipts = [t for t in worker_comments(sb, card) if t.startswith("**Sent**")]
    assert receipts[-1].startswith("**Sent** to auction-houses: json failing, tried again later.")
    with worker.store.tx() as conn:
        (waiting,) = conn.execute(select(outbox).where(outbox.c.state == "pending")).all()
    assert (waiting.audience, waiting.attempts, waiting.state) == ("auction-houses", 1, "pending")
    secret = f"{worker.settings.channels['support'][0].get_secret_value()}"
    assert all(secret not in text for text in worker_comments(sb, card))


def test_channels_test_sends_one_message_to_each_channel(
    receiver: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from worker.cli import main

    port, posted = receiver
    channels = {"support": [f"json://127.0.0.1:{port}/ok", f"json://127.0.0.1:{free_port()}/x"]}
    for name, value in {
        "TRELLO_API_KEY": "k" * 32,
        "TRELLO_TOKEN": "t" * 64,
        "TRELLO_BOARD_ID": "b1",
        "INCIDENT_CHANNELS": json.dumps(channels),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["channels", "test", "support"]) == 1  # the second channel is nobody's
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "channel 1 (json): sent",
        "channel 2 (json): failed: the channel did not take it",
    ]
    assert [p["title"] for p in posted] == ["incident-worker: a test"]
    assert str(port) not in out
    assert main(["channels", "test", "press"]) == 2


def test_tell_reaches_a_form_channel_and_a_chat_services_incoming_webhook(
    tmp_path: Path,
) -> None:
    """Apprise's form notifications, and Mattermost's incoming-webhook format (`mmost://`):
    a real local HTTP receiver takes both, as the services would."""
    got: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            got.append((self.path, self.headers.get("Content-Type") or "", self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with http_receiver(Handler) as port:
        channels = {
            "buyers-sellers": [
                f"form://127.0.0.1:{port}/form",
                f"mmost://127.0.0.1:{port}/abcdefghijklmnopqrstuvwxyz",
            ]
        }
        channels_set = json.dumps(channels)
        with served_worker(tmp_path, INCIDENT_CHANNELS=channels_set) as (worker, alice, sb):
            card = alice.create_card(sb.board_ids[0], "Checkout is down").id
            alice.label(card, "Incident")
            worker.cycle(reconcile=False)
            alice.comment(card, "/tell buyers-sellers")
            worker.cycle(reconcile=False)
    (form,) = [g for g in got if g[0] == "/form"]
    (chat,) = [g for g in got if g[0].startswith("/hooks/")]
    assert form[1] == "application/x-www-form-urlencoded"
    assert b"message=Some+of+you+may+have+trouble" in form[2]
    assert "Some of you may have trouble: Checkout is down." in json.loads(chat[2])["text"]
