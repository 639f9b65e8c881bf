"""`Sandbox`: a seeded local Trello, served over real HTTP by Werkzeug in a daemon thread.

`Sandbox.seeded()` makes the API key, the app secret (which signs webhook deliveries), five
members with their tokens (the worker's bot and four people) and the boards; `serve()` starts
the HTTP server and the webhook delivery thread and returns a `SandboxServer` (stop it, or use
it as a context manager; stopping the last one stops the deliveries). The admin routes under
`/_sandbox/` let a test or a user in another process read the request and delivery logs, set
faults and read the settings; they need no auth and are never faulted, rate-limited or logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any, TextIO

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from worker.sandbox.app import LoggedRequest, SandboxApp, json_response, text_response
from worker.sandbox.deliveries import DeliveryWorker, LoggedDelivery
from worker.sandbox.faults import Faults, RateLimit
from worker.sandbox.model import Member, utc_now
from worker.sandbox.page import BoardPages
from worker.sandbox.routes import ROUTES
from worker.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

PEOPLE = (
    ("worker", "incident-worker", "Incident Worker"),
    ("alice", "alice", "Alice Andersen"),
    ("bob", "bob", "Bob Brown"),
    ("carol", "carol", "Carol Chen"),
    ("dave", "dave", "Dave Dubois"),
)
LISTS = ("To Do", "Doing", "Done")
LABELS = (
    ("Incident", "red"),
    ("Workaround", "yellow"),
    ("Resolved", "green"),
    ("Bug", "orange"),
    ("Support", "blue"),
)


@dataclass(frozen=True)
class SeededMember:
    """A member the sandbox was seeded with, and the token that acts as them."""

    id: str
    username: str
    full_name: str
    token: str

    def __repr__(self) -> str:
        return f"SeededMember(id={self.id!r}, username={self.username!r})"


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, closing the connection when the app drops it, logging nothing."""

    def connection_dropped(
        self, error: BaseException, environ: dict[str, Any] | None = None
    ) -> None:
        self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxServer:
    """A running sandbox HTTP server; `url` is the TRELLO_API_URL."""

    def __init__(
        self,
        app: SandboxApp,
        host: str,
        port: int,
        on_stop: Callable[[], None] | None = None,
    ):
        self._on_stop = on_stop
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_RequestHandler
        )
        self.host = host
        self.port = self._server.port
        self.url = f"http://{host}:{self.port}/1"
        #: the boards as web pages (`worker.sandbox.page`)
        self.page_url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"trello-sandbox-{self.port}",
            daemon=True,
        )
        self._stopped = False
        self._thread.start()
        logger.info("sandbox listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
        if self._on_stop is not None:
            self._on_stop()
        logger.info("sandbox on %s stopped", self.url)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Sandbox:
    """A local Trello-compatible server's state, faults, limits and request log."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        rate_limit: tuple[int, int, float] = (100, 300, 10.0),
        webhook_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        webhook_timeout: float = 5.0,
        ids_in_order: bool = True,
    ):
        self.state = SandboxState(clock or utc_now, ids_in_order=ids_in_order)
        self.faults = Faults()
        self.rate_limit = RateLimit(*rate_limit)
        self.api_key = secrets.token_hex(16)
        self.app_secret = secrets.token_hex(32)
        self.delivery = DeliveryWorker(
            self.state.webhook_registry,
            self.faults,
            self.app_secret,
            retry_delays=webhook_retry_delays,
            timeout=webhook_timeout,
            clock=self.state.records.clock,
        )
        self.state.records.listen(self.delivery.on_action)
        self._serving = 0
        self._serving_lock = threading.Lock()
        self.members: dict[str, SeededMember] = {}
        self.board_ids: list[str] = []
        self.pages = BoardPages(self.state, self._api, lambda: self.api_key, self._people)
        self.app = SandboxApp(
            self.state,
            self.faults,
            self.rate_limit,
            self.api_key,
            ROUTES,
            self._admin,
            self.state.records.clock,
            self.pages,
        )

    def __repr__(self) -> str:
        return f"Sandbox(boards={self.board_ids!r})"

    def _api(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The API, for the board pages' forms (the app is made after them)."""
        return self.app(environ, start_response)

    def _people(self) -> list[Member]:
        """The people a board page may act as: the seeded members but the worker's bot."""
        records = self.state.records
        with records.lock:
            return [records.members[m.id] for k, m in self.members.items() if k != "worker"]

    @classmethod
    def seeded(
        cls,
        boards: int = 1,
        clock: Callable[[], datetime] | None = None,
        rate_limit: tuple[int, int, float] = (100, 300, 10.0),
        webhook_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        webhook_timeout: float = 5.0,
        ids_in_order: bool = True,
    ) -> Sandbox:
        """A sandbox with the five members and `boards` boards ("Incidents", "Incidents 2"...).

        `webhook_retry_delays`: seconds before each retry of a failed webhook delivery;
        `webhook_timeout`: seconds a callback may take to answer a delivery;
        `ids_in_order=False`: action ids made within one second run backwards (as Trello's may).
        """
        sandbox = cls(
            clock=clock,
            rate_limit=rate_limit,
            webhook_retry_delays=webhook_retry_delays,
            webhook_timeout=webhook_timeout,
            ids_in_order=ids_in_order,
        )
        for key, username, full_name in PEOPLE:
            member = sandbox.state.records.add_member(username, full_name, secrets.token_hex(32))
            sandbox.members[key] = SeededMember(member.id, username, full_name, member.token)
        member_ids = [member.id for member in sandbox.members.values()]
        for number in range(1, boards + 1):
            name = "Incidents" if number == 1 else f"Incidents {number}"
            board = sandbox.state.records.add_board(name, member_ids, LISTS, LABELS)
            sandbox.board_ids.append(board.id)
        return sandbox

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        """Start serving over HTTP in a daemon thread, and the webhook deliveries."""
        server = SandboxServer(self.app, host, port, on_stop=self._server_stopped)
        with self._serving_lock:
            self._serving += 1
            self.delivery.start()
        return server

    def _server_stopped(self) -> None:
        with self._serving_lock:
            self._serving -= 1
            if self._serving == 0:
                self.delivery.stop()

    def settings_lines(self, url: str) -> list[str]:
        """The worker's settings for this sandbox, then a comment line per person."""
        lines = [
            f"TRELLO_API_URL={url}",
            f"TRELLO_API_KEY={self.api_key}",
            f"TRELLO_TOKEN={self.members['worker'].token}",
            f"TRELLO_BOARD_ID={','.join(self.board_ids)}",
            f"TRELLO_APP_SECRET={self.app_secret}",
        ]
        lines += [
            f"# {key}: token {member.token}"
            for key, member in self.members.items()
            if key != "worker"
        ]
        return lines

    def set_rate_limit(self, token_limit: int, key_limit: int, window: float) -> None:
        self.rate_limit.set(token_limit, key_limit, window)

    @property
    def request_log(self) -> list[LoggedRequest]:
        return self.app.logged()

    def clear_request_log(self) -> None:
        self.app.clear_request_log()

    @property
    def most_in_flight(self) -> int:
        """The most `/1/` requests answered at the same moment since the log was cleared."""
        return self.app.most_in_flight

    # -- webhook deliveries -----------------------------------------------------------------

    @property
    def deliveries(self) -> list[LoggedDelivery]:
        """Every webhook delivery attempt so far, oldest first."""
        return self.delivery.logged()

    def clear_deliveries(self) -> None:
        self.delivery.clear_log()

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery is done (sent, given up, dropped); False if
        `timeout` seconds passed first (or deliveries are paused or not running).
        """
        return self.delivery.wait(timeout)

    def pause_deliveries(self) -> None:
        """Keep queueing webhook deliveries but send none until `resume_deliveries`."""
        self.delivery.pause()

    def resume_deliveries(self) -> None:
        self.delivery.resume()

    # -- admin routes -----------------------------------------------------------------------

    def _admin(self, request: Request, base_url: str) -> Response:
        """The `/_sandbox/` endpoints: for tests only (they hand out every token); each answer
        says so in its `X-Sandbox-Admin` header."""
        response = self._admin_answer(request, base_url)
        response.headers["X-Sandbox-Admin"] = ADMIN_NOTICE
        return response

    def _admin_answer(self, request: Request, base_url: str) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("GET", "/_sandbox/requests"):
                return json_response([entry.as_json() for entry in self.request_log])
            if route == ("DELETE", "/_sandbox/requests"):
                self.clear_request_log()
                return json_response({})
            if route == ("GET", "/_sandbox/faults"):
                return json_response(self.faults.config.as_json())
            if route == ("PUT", "/_sandbox/faults"):
                body = json.loads(request.get_data() or b"{}")
                return json_response(self.faults.configure(**body).as_json())
            if route == ("GET", "/_sandbox/rate-limit"):
                limit = self.rate_limit
                return json_response([limit.token_limit, limit.key_limit, limit.window])
            if route == ("PUT", "/_sandbox/rate-limit"):
                self.set_rate_limit(*json.loads(request.get_data()))
                return json_response({})
            if route == ("GET", "/_sandbox/deliveries"):
                return json_response([entry.as_json() for entry in self.deliveries])
            if route == ("DELETE", "/_sandbox/deliveries"):
                self.clear_deliveries()
                return json_response({})
            if route == ("GET", "/_sandbox/settings"):
                return json_response(self._settings(base_url))
        except (TypeError, ValueError) as exc:
            return text_response(400, f"bad admin request: {exc}")
        return text_response(404, f"Cannot {request.method} {request.path}")

    def _settings(self, url: str) -> dict[str, Any]:
        return {
            "lines": self.settings_lines(url),
            "api_url": url,
            "api_key": self.api_key,
            "token": self.members["worker"].token,
            "app_secret": self.app_secret,
            "board_ids": list(self.board_ids),
            "members": {
                key: {"id": m.id, "username": m.username, "fullName": m.full_name, "token": m.token}
                for key, m in self.members.items()
            },
        }


#: What the admin endpoints say of themselves.
ADMIN_NOTICE = "for tests only: faults, the request log, and the settings with every token"


class Signalled:
    """Ctrl-C or SIGTERM, noted by the handler (one assignment: a handler that took a lock
    could wait forever on one its own thread holds) and waited for by polling."""

    def __init__(self) -> None:
        self.name = ""

    def caught(self, signum: int, frame: FrameType | None) -> None:
        self.name = self.name or signal.Signals(signum).name

    def wait(self) -> None:
        while not self.name:
            time.sleep(0.2)


@contextmanager
def until_signalled() -> Iterator[Signalled]:
    """Ctrl-C and SIGTERM caught from the start of the block (so nothing said inside it can be
    answered by a signal too early) to its end, when the handlers before are put back."""
    signalled = Signalled()
    previous = {
        sig: signal.signal(sig, signalled.caught) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield signalled
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_forever(
    host: str = "127.0.0.1", port: int = 8765, *, boards: int = 1, out: TextIO = sys.stdout
) -> None:
    """Seed a sandbox, serve it, print its settings, and block until Ctrl-C or SIGTERM."""
    sandbox = Sandbox.seeded(boards=boards)
    with until_signalled() as stop, sandbox.serve(host, port) as server:
        print(f"Trello sandbox listening on {server.url}", file=out)
        print(f"Its boards, to look at and act on as its people: {server.page_url}", file=out)
        print("Settings for incident-worker (e.g. in .env):", file=out)
        for line in sandbox.settings_lines(server.url):
            print(line, file=out)
        print(f"Its /_sandbox/ endpoints are {ADMIN_NOTICE}.", file=out)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"Listening on {host}, not only this machine: anyone who reaches the port "
                "can act as any of its people and read every token.",
                file=out,
            )
        print("Press Ctrl-C to stop.", file=out, flush=True)
        stop.wait()
