"""The webhook receiver: Trello's deliveries, verified first, into the same pipeline as the feed.

Served by waitress (a production WSGI server) at the path of INCIDENT_WEBHOOK_CALLBACK_URL on
INCIDENT_WEBHOOK_LISTEN, so a reverse proxy can pass the public URL through unchanged:

- `HEAD` (and `GET`) answer 200: Trello checks the URL when the webhook is created.
- `POST` is verified before anything else: `X-Trello-Webhook` must be
  base64(HMAC-SHA1(TRELLO_APP_SECRET, raw body + callback URL)), compared in constant time (as
  bytes: a header of any characters is a 401, never an error). A missing or wrong signature
  gets 401 and nothing of the body is parsed or logged. Bodies over 1 MiB get 413 (waitress
  refuses them before storing them, too). Trello's signature covers no time, so a delivery
  whose action is older than `MAX_AGE` is refused (400): the worker remembers the actions it
  handled for longer than that (`reconciler.HANDLED_KEPT`), so a captured delivery replayed
  later changes nothing. A verified delivery is acknowledged at once and its action handed to
  the worker (`deliver` queues it for the worker's own thread), which handles each action once
  whether it comes this way or through the feed.
- Refused requests are counted: the first is logged, the rest once a minute as a count.
- `/healthz` answers 200, or 503 when a board's feed was not read within three poll intervals
  (or never); it names the boards only with `INCIDENT_HEALTH_SHOWS_BOARDS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from werkzeug.wrappers import Request, Response

from worker.settings import Settings
from worker.web.serving import MAX_BODY, HttpServer

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
#: The oldest action a delivery may carry: Trello delivers (and retries) within minutes.
MAX_AGE = timedelta(hours=1)
#: How often refused requests are logged, as a count.
REFUSALS_EVERY = 60.0

Health = Callable[[], tuple[bool, dict[str, Any]]]


def signature(secret: str, body: bytes, callback_url: str) -> str:
    """Trello's signature of a delivery."""
    digest = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verified(secret: str, body: bytes, callback_url: str, given: str | None) -> bool:
    """Whether `given` is the delivery's signature; compared as bytes, in constant time."""
    expected = signature(secret, body, callback_url).encode()
    return hmac.compare_digest(expected, (given or "").encode("utf-8", "replace"))


class Refusals:
    """Refused requests, counted: the first is logged at once, the rest once a minute; and the
    deliveries accepted (for `/metrics`)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self.monotonic = monotonic
        self.count: Counter[str] = Counter()  # every refusal since start, by reason
        self.accepted = 0
        self._unsaid: Counter[str] = Counter()
        self._said_at: float | None = None
        self._lock = threading.Lock()

    def add(self, why: str) -> None:
        with self._lock:
            self.count[why] += 1
            self._unsaid[why] += 1
            now = self.monotonic()
            if self._said_at is not None and now - self._said_at < REFUSALS_EVERY:
                return
            said = "; ".join(f"{reason}: {n}" for reason, n in sorted(self._unsaid.items()))
            self._unsaid.clear()
            self._said_at = now
        logger.warning("webhook: refused %s", said)


class WebhookApp:
    """The WSGI application (see the module docstring)."""

    def __init__(
        self,
        callback_url: str,
        secret: SecretStr,
        deliver: Callable[[dict[str, Any]], None],
        health: Health,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        shows_boards: bool = False,
        refusals: Refusals | None = None,
    ):
        self.callback_url = callback_url
        self.path = urlsplit(callback_url).path or "/"
        self.secret = secret
        self.deliver = deliver
        self.health = health
        self.clock = clock
        self.shows_boards = shows_boards
        self.refusals = refusals or Refusals()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.respond(Request(environ))
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            ok, detail = self.health()
            if not self.shows_boards:
                polled = detail.get("last_poll") or {}
                detail = {"ok": ok, "boards": len(polled)}
            return _json(detail, 200 if ok else 503)
        if request.path != self.path:
            return Response("not found\n", status=404, mimetype="text/plain")
        if request.method in ("HEAD", "GET"):
            return Response("", status=200)
        if request.method != "POST":
            return Response("POST only\n", status=405, mimetype="text/plain")
        if (request.content_length or 0) > MAX_BODY:
            return self._refuse(413, "too large", "bodies over 1 MiB")
        body = request.stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return self._refuse(413, "too large", "bodies over 1 MiB")
        given = request.headers.get("X-Trello-Webhook")
        if not verified(self.secret.get_secret_value(), body, self.callback_url, given):
            why = "with a wrong signature" if given else "with no signature"
            return self._refuse(401, "invalid signature", f"deliveries {why}")
        try:
            payload = json.loads(body)
        except ValueError:
            return self._refuse(400, "not JSON", "signed deliveries that are not JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("action"), dict):
            return self._refuse(400, "no action", "signed deliveries without an action")
        if self._too_old(payload["action"]):
            return self._refuse(400, "too old", "signed deliveries of actions over an hour old")
        self.refusals.accepted += 1
        try:
            self.deliver(payload)
        except Exception:  # the feed will bring the action again: never make Trello retry
            logger.exception("webhook: handing action %s on failed", payload["action"].get("id"))
        return Response("", status=200)

    def _refuse(self, status: int, answer: str, counted_as: str) -> Response:
        self.refusals.add(counted_as)
        return Response(f"{answer}\n", status=status, mimetype="text/plain")

    def _too_old(self, action: dict[str, Any]) -> bool:
        """An action with no date it can read, or one older than `MAX_AGE` (a replay)."""
        date = action.get("date")
        try:
            at = (
                datetime.fromisoformat(date.replace("Z", "+00:00"))
                if isinstance(date, str)
                else None
            )
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            return True
        return self.clock() - at > MAX_AGE


def _json(data: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(data) + "\n", status=status, mimetype="application/json")


class WebhookServer(HttpServer):
    """waitress serving a `WebhookApp` in a background thread."""

    def __init__(self, app: WebhookApp, listen: str, *, threads: int = 4):
        super().__init__(app, listen, name="webhook receiver", threads=threads)


def webhook_server(
    settings: Settings,
    deliver: Callable[[dict[str, Any]], None],
    health: Health,
    refusals: Refusals | None = None,
) -> WebhookServer | None:
    """The receiver the settings ask for (`INCIDENT_WEBHOOK`), not started; None when off."""
    if not settings.webhook:
        return None
    secret, callback = settings.trello_app_secret, settings.webhook_callback_url
    assert secret is not None and callback is not None  # the settings require them
    app = WebhookApp(
        callback,
        secret,
        deliver,
        health,
        shows_boards=settings.health_shows_boards,
        refusals=refusals,
    )
    return WebhookServer(app, settings.webhook_listen)
