"""The HTTP session every Trello request goes through.

py-trello builds URLs on a fixed `https://api.trello.com/1/` prefix, puts the key and token in the
query string, sets no timeout and never retries. `TrelloSession` is the `requests.Session` we
hand it as `http_service`; for every request it:

1. routes Trello's prefix to the configured base URL (Trello itself, or the sandbox);
2. moves the key and token out of the query string into Trello's `Authorization: OAuth` header,
   so no URL (and so no log line of urllib3's, no exception text) ever carries them;
3. waits for the client-side rate limiter, so a burst queues instead of earning 429s;
4. sets a connect and read timeout;
5. retries what is worth retrying with capped exponential backoff and jitter (Trello sends no
   Retry-After), then raises our own `TrelloUnavailable`;
6. turns 401, 404 and other refusals into `AuthError`, `NotFoundError` and `RequestRejected`.

A POST is not idempotent (a comment sent twice is posted twice), so it is retried only when
Trello certainly did not act on it: a 429, or a connection that was never made. Any other
failure of a POST raises `TrelloUnavailable(applied_unknown=True)` at once, and the caller looks
at the card before sending it again.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from worker.errors import (
    AuthError,
    NotFoundError,
    RequestRejected,
    TrelloError,
    TrelloUnavailable,
)

logger = logging.getLogger(__name__)

#: The prefixes py-trello writes into its URLs; both are routed to the configured base URL.
TRELLO_PREFIXES = ("https://api.trello.com/1/", "https://trello.com/1/")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Credentials:
    """An API key and token; `repr` never shows either."""

    key: SecretStr
    token: SecretStr

    def header(self) -> str:
        return (
            f'OAuth oauth_consumer_key="{self.key.get_secret_value()}", '
            f'oauth_token="{self.token.get_secret_value()}"'
        )

    def redact(self, text: str) -> str:
        """`text` with the key and token replaced by `***`."""
        for secret in (self.key.get_secret_value(), self.token.get_secret_value()):
            if secret:
                text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing request is tried again."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 8.0
    jitter: float = 0.5


def limiter_delay(sent: collections.deque[float], now: float, limit: int, window: float) -> float:
    """Seconds to wait before one more request may go, given the send times in `sent`.

    At most `limit` requests may start in any `window` seconds; `sent` holds the recent send
    times, oldest first. Pure: the caller owns the clock.
    """
    while sent and sent[0] <= now - window:
        sent.popleft()
    if len(sent) < limit:
        return 0.0
    return sent[len(sent) - limit] + window - now


class RateLimiter:
    """A sliding-window limiter: at most `limit` requests start in any `window` seconds.

    `margin` widens the window a little, because Trello counts arrivals and latency varies.
    Thread-safe; the clock and sleep are injectable for tests.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        margin: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if limit < 1 or window <= 0:
            raise ValueError("the rate limit needs at least one request per positive window")
        self.limit = self.budget = limit
        self.window = window + margin
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._claim: Callable[[], float] | None = None

    def share(self, processes: int) -> None:
        """Keep to an even part of the budget: `processes` processes use the same token."""
        with self._lock:
            self.limit = max(1, self.budget // max(1, processes))

    def share_through(self, claim: Callable[[], float]) -> None:
        """Also claim each request from a budget shared with other processes before it goes:
        `claim()` answers 0 when it may go, else how long to wait before asking again."""
        self._claim = claim

    def acquire(self) -> float:
        """Block until a request may start (in this process's window, then in the shared
        budget, when there is one); return how long it waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = limiter_delay(self._sent, now, self.limit, self.window)
                if delay <= 0:
                    self._sent.append(now)
                    break
            logger.debug("rate limiter: waiting %.2f s", delay)
            self._sleep(delay)
            waited += delay
        while self._claim is not None and (delay := self._claim()) > 0:
            logger.debug("rate limiter: the shared budget is spent; waiting %.2f s", delay)
            self._sleep(delay)
            waited += delay
        return waited


class _RetryableResponse(Exception):
    """Internal: a response whose status is worth another try."""

    def __init__(self, response: requests.Response):
        super().__init__(response.status_code)
        self.response = response


class _RetryableError(Exception):
    """Internal: a timeout or connection failure worth another try."""

    def __init__(self, cause: requests.RequestException):
        super().__init__(type(cause).__name__)
        self.cause = cause


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc.args)
        return "NewConnectionError" in text or "ConnectionRefusedError" in text
    return False


#: The key and token of every session made in this process, for `SecretsFilter`.
_SECRETS: set[str] = set()


class SecretsFilter(logging.Filter):
    """Blanks the key and token of every session in a log record.

    Our requests carry the secrets in a header, but a few Trello paths name the token
    (`/1/tokens/{token}/webhooks`), and urllib3 logs every URL at DEBUG. The CLI's logging
    set-up installs it on urllib3's logger (`hide_secrets_from_urllib3`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            text = record.getMessage()
            for secret in _SECRETS:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


def hide_secrets_from_urllib3() -> None:
    """Install `SecretsFilter` on urllib3's connection logger (once, however often asked)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, SecretsFilter) for f in logger.filters):
        logger.addFilter(SecretsFilter())


class Tally:
    """Trello's answers by status (0: none came), and the retries; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: Counter[int] = Counter()
        self._retries = 0

    def answered(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1

    def retried(self) -> None:
        with self._lock:
            self._retries += 1

    def read(self) -> tuple[dict[int, int], int]:
        """(answers by status, retries) so far."""
        with self._lock:
            return dict(self._statuses), self._retries


class TrelloSession(requests.Session):
    """The `requests.Session` py-trello sends everything through (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        timeout: tuple[float, float] = (3.05, 15.0),
        limiter: RateLimiter | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.credentials = credentials
        if credentials is not None:
            for secret in (credentials.key, credentials.token):
                if secret.get_secret_value():
                    _SECRETS.add(secret.get_secret_value())
        self.timeout = timeout
        self.limiter = limiter
        #: how many writing requests (anything but GET) were sent: the worker's own activity
        self.writes = 0
        #: what Trello answered, counted (for `/metrics`)
        self.tally = Tally()
        self.retry = retry
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"TrelloSession(base_url={self.base_url!r})"

    def route(self, url: str) -> str:
        """Trello's own prefix replaced by the configured base URL."""
        for prefix in TRELLO_PREFIXES:
            if url.startswith(prefix):
                return self.base_url + url[len(prefix) :]
        return url

    def _auth_header(self, params: dict[str, Any]) -> str | None:
        key = params.pop("key", None)
        token = params.pop("token", None)
        if self.credentials is not None:
            return self.credentials.header()
        if key is not None and token is not None:
            return Credentials(SecretStr(str(key)), SecretStr(str(token))).header()
        return None

    def redact(self, text: str) -> str:
        return self.credentials.redact(text) if self.credentials else text

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        method = method.upper()
        url = self.route(url)
        path = self.redact(urlsplit(url).path)  # a few paths name the token
        query = dict(params or {})
        merged_headers = dict(headers or {})
        auth = self._auth_header(query)
        if auth is not None:
            merged_headers["Authorization"] = auth
        kwargs.setdefault("timeout", self.timeout)
        idempotent = method in IDEMPOTENT_METHODS
        if method != "GET":
            self.writes += 1

        def send() -> requests.Response:
            if self.limiter is not None:
                self.limiter.acquire()
            started = time.monotonic()
            try:
                response = super(TrelloSession, self).request(
                    method, url, params=query, headers=merged_headers, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                logger.debug("%s %s -> %s", method, path, type(exc).__name__)
                self.tally.answered(0)
                if idempotent or _never_connected(exc):
                    raise _RetryableError(exc) from None
                raise TrelloUnavailable(
                    f"Trello did not answer {method} {path} ({type(exc).__name__}); "
                    "it may or may not have been applied",
                    method=method,
                    path=path,
                    applied_unknown=True,
                ) from None
            elapsed = (time.monotonic() - started) * 1000
            logger.debug("%s %s -> %s in %.0f ms", method, path, response.status_code, elapsed)
            status = response.status_code
            self.tally.answered(status)
            if status in RETRY_STATUSES:
                if idempotent or status == 429:
                    raise _RetryableResponse(response)
                raise TrelloUnavailable(
                    f"Trello answered {status} to {method} {path}; "
                    "it may or may not have been applied",
                    method=method,
                    path=path,
                    status=status,
                    applied_unknown=True,
                )
            return response

        def before_sleep(state: RetryCallState) -> None:
            self.tally.retried()
            exc = state.outcome.exception() if state.outcome else None
            what = str(exc) if exc is not None else "?"
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.debug(  # the caller reports what finally fails, once
                "Trello %s %s failed (%s); retrying in %.1f s (attempt %d of %d)",
                method,
                path,
                what,
                delay,
                state.attempt_number + 1,
                self.retry.attempts,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential(multiplier=self.retry.initial, max=self.retry.maximum)
            + wait_random(0, self.retry.jitter),
            retry=retry_if_exception_type((_RetryableResponse, _RetryableError)),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            response = retrying(send)
        except _RetryableResponse as failed:
            status = failed.response.status_code
            raise TrelloUnavailable(
                f"Trello answered {status} to {method} {path} "
                f"{self.retry.attempts} times in a row; giving up for now",
                method=method,
                path=path,
                status=status,
            ) from None
        except _RetryableError as failed:
            raise TrelloUnavailable(
                f"Trello did not answer {method} {path} ({failed}) "
                f"{self.retry.attempts} times in a row; giving up for now",
                method=method,
                path=path,
            ) from None
        _raise_for_status(method, path, response, self.redact)
        return response


def _raise_for_status(
    method: str, path: str, response: requests.Response, redact: Callable[[str], str]
) -> None:
    status = response.status_code
    if status >= 400:
        raise error_for(status, method, path, redact(response.text.strip())[:200])


def error_for(status: int, method: str, path: str, body: str) -> TrelloError:
    """The error for Trello's `status` answer to `method path` (`body`: what it said, with no
    secret in it): 401 `AuthError`, 404 `NotFoundError`, 429 and 5xx `TrelloUnavailable`, any
    other `RequestRejected`."""
    if status == 401:
        return AuthError(
            f"Trello refused the API key or token ({status} on {method} {path}: {body!r}); "
            "check TRELLO_API_KEY and TRELLO_TOKEN",
            method=method,
            path=path,
            status=status,
        )
    if status == 429 or status >= 500:
        return TrelloUnavailable(
            f"Trello answered {status} to {method} {path}", method=method, path=path, status=status
        )
    error = NotFoundError if status == 404 else RequestRejected
    return error(
        f"Trello answered {status} to {method} {path}: {body!r}",
        method=method,
        path=path,
        status=status,
    )
