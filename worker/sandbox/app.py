"""The sandbox's WSGI application: faults, auth, rate limits, the request log, then the routes.

Each `/1/...` request goes through, in order: the injected faults (delay, dropped connection,
injected error status), Trello's refusal of a GET with a body (403), the key and token check
(query parameters `key`/`token`, or `Authorization: OAuth oauth_consumer_key="...",
oauth_token="..."`, or form fields `key`/`token` of a POST or PUT, or the token in a
`/1/tokens/{token}/...` path, as py-trello's `create_hook` sends them; 401 `invalid key` /
`invalid token`), the per-token and per-key rate limit (429 with Trello's JSON body), and then
the route, from the list `SandboxApp` is handed (`routes.ROUTES`). `/_sandbox/*` admin routes
skip all of that and are never logged; so do the board pages (every other path, see
`worker.sandbox.page`), whose forms each make one `/1/` request of their own. Every `/1/`
request lands in the request log.

A dropped connection is made by shutting the socket down and raising `DropConnection` (a
`ConnectionError`, which Werkzeug's server treats as "client went away"), so the client sees a
connection closed with no response at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from worker.sandbox.faults import Faults, RateLimit
from worker.sandbox.feed import FeedQueryError
from worker.sandbox.model import Member, iso
from worker.sandbox.state import SandboxError, SandboxState
from worker.sandbox.store import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

TOKEN_IN_PATH = re.compile(r"/tokens/[^/]+")

OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
TOKEN_PATH = re.compile(r"^/1/tokens/([^/]+)(/|$)")
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
TRUE = frozenset({"true", "1", "yes", "on", "complete"})
FALSE = frozenset({"false", "0", "no", "off", "incomplete"})


class DropConnection(ConnectionAbortedError):
    """Raised inside the app to close the client's connection without a response."""


@dataclass(frozen=True)
class LoggedRequest:
    """One `/1/` request as the sandbox saw it; `status` 0 means no response was sent.

    Each route of a `/1/batch` request is logged too, after it, with `batched` set: it is
    no request of its own (nor counted against the rate limit)."""

    method: str
    path: str
    status: int
    member_username: str | None
    time: datetime
    batched: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "member": self.member_username,
            "time": iso(self.time),
            "batched": self.batched,
        }


#: The longest text Trello takes: a card's name or description, a comment, a checklist's name.
MAX_TEXT = 16384


class Params:
    """A request's arguments: query string, form fields and JSON body, merged (body wins)."""

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        """A text argument; longer than Trello takes (a name, a description, a comment), 400."""
        value = self.values.get(name)
        if value is None:
            return None
        text = str(value)
        if len(text) > MAX_TEXT:
            raise SandboxError(f"invalid value for {name}")
        return text

    def flag(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None or isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise SandboxError(f"invalid value for {name}")

    def ids(self, name: str) -> list[str] | None:
        value = self.values.get(name)
        if value is None:
            return None
        parts: Iterable[Any] = value if isinstance(value, list) else str(value).split(",")
        return [str(part).strip() for part in parts if str(part).strip()]

    def date(self, name: str) -> str | None:
        """An ISO date normalised to Trello's form; None, `null` or empty clears it."""
        value = self.values.get(name)
        if value is None or str(value).strip() in ("", "null"):
            return None
        try:
            return iso(datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")))
        except ValueError:
            raise SandboxError(f"invalid value for {name}") from None


@dataclass
class Context:
    """What a route handler gets."""

    state: SandboxState
    actor: Member
    params: Params
    request: Request
    base_url: str

    @property
    def records(self) -> Store:
        """The state's records: lookups, and the lock to read several as one."""
        return self.state.records


Handler = Callable[..., Any]


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status=status, mimetype="text/plain", headers=headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


#: The most routes one `/1/batch` request may name.
BATCH_MOST = 10


def _batch_error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"name": name, "message": message, "statusCode": status}


def _drop(environ: WSGIEnvironment) -> None:
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise DropConnection("sandbox fault: connection dropped")


def _params(request: Request) -> Params:
    values: dict[str, Any] = dict(request.args.items())
    values.update(request.form.items())
    data = request.get_data(cache=True)
    if data and request.mimetype == "application/json":
        try:
            body = json.loads(data)
        except ValueError:
            raise SandboxError("invalid JSON body") from None
        if isinstance(body, dict):
            values.update(body)
    return Params(values)


class SandboxApp:
    """The WSGI callable (see the module docstring)."""

    def __init__(
        self,
        state: SandboxState,
        faults: Faults,
        rate_limit: RateLimit,
        api_key: str,
        routes: Iterable[tuple[str, str, Handler]],
        admin: Callable[[Request, str], Response],
        clock: Callable[[], datetime],
        pages: Callable[[Request], Response] | None = None,
    ):
        self.state = state
        self.faults = faults
        self.rate_limit = rate_limit
        self.api_key = api_key
        self.admin = admin
        self.clock = clock
        self.pages = pages
        self.url_map = Map(
            [
                Rule("/1" + path, methods=[method], endpoint=handler)
                for path, method, handler in routes
            ]
        )
        self.request_log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._routed = threading.local()  # the routes of this thread's batch, to be logged
        self._in_flight = 0
        #: the most `/1/` requests being answered at the same moment since the log was cleared
        self.most_in_flight = 0

    def clear_request_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()
            self.most_in_flight = self._in_flight

    def logged(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self.request_log)

    def _log(self, request: Request, status: int, member: Member | None) -> None:
        who = member.username if member else None
        entry = LoggedRequest(request.method, request.path, status, who, self.clock())
        batched = [
            LoggedRequest("GET", path, code, who, entry.time, batched=True)
            for path, code in getattr(self._routed, "batched", [])
        ]
        self._routed.batched = []
        with self._log_lock:
            self.request_log.append(entry)
            self.request_log.extend(batched)
        shown = TOKEN_IN_PATH.sub("/tokens/***", request.path)  # like every log: no secrets
        logger.debug("sandbox: %s %s -> %s", request.method, shown, status or "dropped")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        counted = request.path.startswith("/1/")
        if counted:
            with self._log_lock:
                self._in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            response = self._respond(request, environ)
        finally:
            request.close()  # uploaded files are spooled to temporary files
            if counted:
                with self._log_lock:
                    self._in_flight -= 1
        return response(environ, start_response)

    def _respond(self, request: Request, environ: WSGIEnvironment) -> Response:
        base_url = request.host_url.rstrip("/") + "/1"
        if request.path.startswith("/_sandbox/"):
            return self.admin(request, base_url)
        if self.pages is not None and not request.path.startswith("/1/"):
            return self.pages(request)  # each form acts through the API, logged there
        decision = self.faults.decide(self._credentials(request)[1])
        if decision.delay:
            time.sleep(decision.delay)
        if decision.drop_before:
            self._log(request, 0, None)
            _drop(environ)
        member: Member | None = None
        if decision.error_status is not None:
            response = self._injected(decision.error_status)
        else:
            response, member = self._handle(request, base_url)
        if decision.drop_after:
            self._log(request, 0, member)
            _drop(environ)
        self._log(request, response.status_code, member)
        return response

    def _injected(self, status: int) -> Response:
        if status == 429:
            body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            return json_response(body, status)
        return text_response(status, f"sandbox: injected {status}")

    def _credentials(self, request: Request) -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization", "")
        if header.startswith("OAuth "):
            found = dict(OAUTH_PARAM.findall(header))
            return found.get("oauth_consumer_key"), found.get("oauth_token")
        key, token = request.args.get("key"), request.args.get("token")
        if request.method in ("POST", "PUT") and request.mimetype in FORM_TYPES:
            key = key or request.form.get("key")
            token = token or request.form.get("token")
        path_token = TOKEN_PATH.match(request.path)
        if token is None and path_token is not None:
            token = path_token.group(1)
        return key, token

    def _handle(self, request: Request, base_url: str) -> tuple[Response, Member | None]:
        if request.method == "GET" and request.get_data(cache=True):
            return text_response(403, "GET requests may not have a body"), None
        key, token = self._credentials(request)
        if key != self.api_key:
            return text_response(401, "invalid key"), None
        member = self.state.records.member_by_token(token) if token else None
        if member is None:
            return text_response(401, "invalid token"), None
        limit = self.rate_limit.check(key, member.token)
        headers = limit.headers()
        if limit.error is not None:
            body = {"error": limit.error, "message": "Rate limit exceeded"}
            return json_response(body, 429, headers), member
        path = request.path.rstrip("/") or "/"
        if path == "/1/batch" and request.method == "GET":
            return self._batch(request, member, base_url, headers), member
        try:
            result = self._route(path, request.method, _params(request), request, member, base_url)
        except (NotFound, MethodNotAllowed):
            return text_response(404, f"Cannot {request.method} {request.path}", headers), member
        except SandboxError as exc:
            status = getattr(exc, "status", 400)
            return text_response(status, str(exc), headers), member
        except FeedQueryError as exc:
            return text_response(400, str(exc), headers), member
        if isinstance(result, Response):
            result.headers.update(headers)
            return result, member
        return json_response(result, headers=headers), member

    def _route(
        self,
        path: str,
        method: str,
        params: Params,
        request: Request,
        member: Member,
        base_url: str,
    ) -> Any:
        handler, args = self.url_map.bind("sandbox").match(path, method=method)
        return handler(Context(self.state, member, params, request, base_url), **args)

    def _batch(
        self, request: Request, member: Member, base_url: str, headers: dict[str, str]
    ) -> Response:
        """`GET /1/batch?urls=/a,/b`: up to ten GETs in one request (and one against the rate
        limit), each answered `{"200": result}` or with an error of its own; no nesting."""
        urls = [u for u in (request.args.get("urls") or "").split(",") if u.strip()]
        if not urls or len(urls) > BATCH_MOST:
            return text_response(400, f"urls must name 1 to {BATCH_MOST} routes", headers)
        answers: list[Any] = []
        routes: list[tuple[str, int]] = []
        for url in urls:
            parts = urlsplit(url.strip())
            path = "/1" + parts.path.removeprefix("/1").rstrip("/")
            params = Params(dict(parse_qsl(parts.query, keep_blank_values=True)))
            try:
                if not parts.path.startswith("/") or path == "/1/batch":
                    raise NotFound()
                result = self._route(path, "GET", params, request, member, base_url)
                if isinstance(result, Response):  # a file, not JSON: not for a batch
                    raise NotFound()
                answers.append({"200": result})
                routes.append((path, 200))
            except (NotFound, MethodNotAllowed):
                answers.append(_batch_error(404, "NotFound", f"Cannot GET {parts.path}"))
                routes.append((path, 404))
            except (SandboxError, FeedQueryError) as exc:
                status = getattr(exc, "status", 400)
                answers.append(_batch_error(status, type(exc).__name__, str(exc)))
                routes.append((path, status))
        self._routed.batched = routes
        return json_response(answers, headers=headers)
