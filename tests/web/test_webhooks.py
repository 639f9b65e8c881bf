"""The webhook receiver as a WSGI app: verification before anything, sizes, health."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from werkzeug.test import Client

from worker.web.serving import parse_listen
from worker.web.webhooks import (
    MAX_AGE,
    MAX_BODY,
    REFUSALS_EVERY,
    Refusals,
    WebhookApp,
    signature,
)

SECRET = "s3cr3t" * 8
CALLBACK = "https://incidents.example.com/trello/hook"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Receiver:
    def __init__(self, healthy: bool = True, shows_boards: bool = False):
        self.delivered: list[dict[str, Any]] = []
        self.healthy = healthy
        self.monotonic = 0.0
        self.app = WebhookApp(
            CALLBACK,
            SecretStr(SECRET),
            self.delivered.append,
            self.health,
            clock=lambda: NOW,
            shows_boards=shows_boards,
            refusals=Refusals(lambda: self.monotonic),
        )
        self.client = Client(self.app)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return self.healthy, {"ok": self.healthy, "last_poll": {"b1": None}}

    def post(self, body: bytes, sign: str | None) -> int:
        headers = {"X-Trello-Webhook": sign} if sign is not None else {}
        response = self.client.post(
            "/trello/hook", data=body, headers=headers, content_type="application/json"
        )
        return response.status_code


def delivery(text: str = "Checkout is down", at: datetime = NOW) -> bytes:
    action = {
        "id": "a1",
        "type": "commentCard",
        "date": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "data": {"text": text, "card": {"id": "c1", "name": text}, "board": {"id": "b1"}},
    }
    return json.dumps({"action": action, "model": {"id": "b1"}}, ensure_ascii=False).encode()


def test_head_answers_200_for_trellos_check() -> None:
    receiver = Receiver()
    assert receiver.client.head("/trello/hook").status_code == 200
    assert receiver.client.get("/elsewhere").status_code == 404


@pytest.mark.parametrize("text", ["Checkout is down", "Kassan är nere ✓ — 支付失败"])
def test_a_signed_delivery_is_handed_on(text: str) -> None:
    receiver = Receiver()
    body = delivery(text)
    assert receiver.post(body, signature(SECRET, body, CALLBACK)) == 200
    assert receiver.delivered == [json.loads(body)]


@pytest.mark.parametrize(
    "sign",
    [
        None,
        "",
        "bm90IGEgc2lnbmF0dXJl",
        signature("another secret", delivery(), CALLBACK),
        signature(SECRET, delivery(), "https://elsewhere.example.com/trello/hook"),
        signature(SECRET, delivery("tampered"), CALLBACK),
    ],
)
def test_unsigned_or_wrongly_signed_deliveries_are_refused_unread(
    sign: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = Receiver()
    assert receiver.post(delivery(), sign) == 401
    assert receiver.delivered == []
    assert "Checkout is down" not in caplog.text


def test_oversize_bodies_get_413_unread() -> None:
    receiver = Receiver()
    big = b"{" + b" " * MAX_BODY + b"}"
    assert receiver.post(big, signature(SECRET, big, CALLBACK)) == 413
    assert receiver.delivered == []


def test_signed_nonsense_is_refused() -> None:
    receiver = Receiver()
    for body in (b"not json", b"[1, 2]", b'{"model": {}}'):
        assert receiver.post(body, signature(SECRET, body, CALLBACK)) == 400
    assert receiver.delivered == []


@pytest.mark.parametrize(("healthy", "status"), [(True, 200), (False, 503)])
def test_healthz(healthy: bool, status: int) -> None:
    response = Receiver(healthy).client.get("/healthz")
    assert response.status_code == status
    assert json.loads(response.data) == {"ok": healthy, "boards": 1}  # no board ids
    shown = Receiver(healthy, shows_boards=True).client.get("/healthz")
    assert json.loads(shown.data) == {"ok": healthy, "last_poll": {"b1": None}}


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (timedelta(0), 200),
        (MAX_AGE, 200),
        (MAX_AGE + timedelta(seconds=1), 400),  # a capture replayed later
        (timedelta(days=3), 400),
    ],
)
def test_a_delivery_replayed_later_is_refused(age: timedelta, status: int) -> None:
    receiver = Receiver()
    body = delivery(at=NOW - age)
    assert receiver.post(body, signature(SECRET, body, CALLBACK)) == status
    assert len(receiver.delivered) == (1 if status == 200 else 0)


def test_a_signature_of_any_characters_is_a_401_not_an_error() -> None:
    receiver = Receiver()
    environ_header = "sïgnätüre✓".encode().decode("latin-1")  # as a WSGI server passes it
    assert receiver.post(delivery(), environ_header) == 401
    assert receiver.post(delivery(), "\x00\xff") == 401


def test_refused_requests_are_counted_not_logged_one_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Receiver()
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            receiver.post(delivery(), "Zm9yZ2Vk")
        receiver.monotonic += REFUSALS_EVERY
        receiver.post(delivery(), None)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "webhook: refused deliveries with a wrong signature: 1",
        "webhook: refused deliveries with a wrong signature: 49; deliveries with no signature: 1",
    ]
    assert receiver.app.refusals.count["deliveries with a wrong signature"] == 50


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:9000", ("::1", 9000))],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


def test_parse_listen_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_listen("8080")
