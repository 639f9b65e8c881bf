"""The webhook receiver: Trello's deliveries, verified first, into the same pipeline as the feed.

Served by waitress (a production WSGI server) at the path of INCIDENT_WEBHOOK_CALLBACK_URL on
INCIDENT_WEBHOOK_LISTEN, so a reverse proxy can pass the public URL through unchanged:

- `HEAD` (and `GET`) answer 200: Trello checks the URL when the webhook is created.
- `POST` is verified before anything else: `X-Trello-Webhook` must be
  base64(HMAC-SHA1(TRELLO_APP_SECRET, raw body + callback URL)), compared in constant time. A
  missing or wrong signature gets 401 and nothing of the body is parsed or logged. Bodies over
  1 MiB get 413. A verified delivery's action goes to the worker, which handles each action
  once whether it comes this way or through the feed.
- `/healthz` answers 200 with each board's last successful poll, or 503 when one is older than
  three poll intervals (or has never succeeded).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from werkzeug.wrappers import Request, Response

from worker.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20
HEALTH_PATH = "/healthz"

Health = Callable[[], tuple[bool, dict[str, Any]]]


def signature(secret: str, body: bytes, callback_url: str) -> str:
    """Trello's signature of a delivery."""
    digest = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verified(secret: str, body: bytes, callback_url: str, given: str | None) -> bool:
    return hmac.compare_digest(signature(secret, body, callback_url), given or "")


class WebhookApp:
    """The WSGI application (see the module docstring)."""

    def __init__(
        self,
        callback_url: str,
        secret: SecretStr,
        deliver: Callable[[dict[str, Any]], None],
        health: Health,
    ):
        self.callback_url = callback_url
        self.path = urlsplit(callback_url).path or "/"
        self.secret = secret
        self.deliver = deliver
        self.health = health

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.respond(Request(environ))
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            ok, detail = self.health()
            return _json(detail, 200 if ok else 503)
        if request.path != self.path:
            return Response("not found\n", status=404, mimetype="text/plain")
        if request.method in ("HEAD", "GET"):
            return Response("", status=200)
        if request.method != "POST":
            return Response("POST only\n", status=405, mimetype="text/plain")
        if (request.content_length or 0) > MAX_BODY:
            return Response("too large\n", status=413, mimetype="text/plain")
        body = request.stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return Response("too large\n", status=413, mimetype="text/plain")
        given = request.headers.get("X-Trello-Webhook")
        if not verified(self.secret.get_secret_value(), body, self.callback_url, given):
            logger.warning(
                "webhook: refused a delivery from %s: %s signature",
                request.remote_addr,
                "wrong" if given else "no",
            )
            return Response("invalid signature\n", status=401, mimetype="text/plain")
        try:
            payload = json.loads(body)
        except ValueError:
            logger.warning("webhook: a signed delivery that is not JSON; skipped")
            return Response("not JSON\n", status=400, mimetype="text/plain")
        if not isinstance(payload, dict) or not isinstance(payload.get("action"), dict):
            logger.warning("webhook: a signed delivery without an action; skipped")
            return Response("no action\n", status=400, mimetype="text/plain")
        try:
            self.deliver(payload)
        except Exception:  # the feed will bring the action again: never make Trello retry
            logger.exception("webhook: handling action %s failed", payload["action"].get("id"))
        return Response("", status=200)


def _json(data: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(data) + "\n", status=status, mimetype="application/json")


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) as a pair; ValueError with a sentence otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError("is not host:port, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


class WebhookServer:
    """waitress serving a `WebhookApp` in a background thread."""

    def __init__(self, app: WebhookApp, listen: str, *, threads: int = 4):
        from waitress.server import create_server

        host, port = parse_listen(listen)
        self.server = create_server(app, host=host, port=port, threads=threads, ident=None)
        self.port: int = self.server.effective_port
        self._thread = threading.Thread(target=self._serve, name="webhook", daemon=True)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the socket closed under the loop while stopping
            self.server.run()

    def start(self) -> None:
        self._thread.start()
        logger.info("webhook receiver listening on port %d", self.port)

    def stop(self) -> None:
        self.server.close()
        self._thread.join(timeout=10)


def webhook_server(
    settings: Settings, deliver: Callable[[dict[str, Any]], None], health: Health
) -> WebhookServer | None:
    """The receiver the settings ask for (`INCIDENT_WEBHOOK`), not started; None when off."""
    if not settings.webhook:
        return None
    secret, callback = settings.trello_app_secret, settings.webhook_callback_url
    assert secret is not None and callback is not None  # the settings require them
    return WebhookServer(WebhookApp(callback, secret, deliver, health), settings.webhook_listen)
