"""Fault injection and Trello's rate limits, for the sandbox.

`Faults` decides, per request, what goes wrong: an added delay, a connection closed before the
request is applied, an error status answered instead of applying it, or a connection closed
after applying it (the client cannot tell whether it happened). It also drops a share of the
webhook deliveries (`webhook_drop_rate`: not sent at all, as if lost). Decisions come from a seeded
`random.Random`, so a test can make them repeatable.

`RateLimit` is Trello's sliding-window limit: at most `token_limit` requests per token and
`key_limit` per API key in any `window` seconds. Refused requests do not use up the budget.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_STATUSES = (429, 500, 503)


@dataclass(frozen=True)
class FaultConfig:
    """What `Faults.configure` was given (see `Faults.configure`)."""

    error_rate: float = 0.0
    statuses: tuple[int, ...] = DEFAULT_STATUSES
    latency: tuple[float, float] = (0.0, 0.0)
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    seed: int | None = None
    webhook_drop_rate: float = 0.0
    #: when set, only requests made with one of these tokens are faulted
    only_tokens: frozenset[str] | None = None

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["statuses"] = list(self.statuses)
        body["latency"] = list(self.latency)
        body["only_tokens"] = None if self.only_tokens is None else len(self.only_tokens)
        return body


@dataclass(frozen=True)
class FaultDecision:
    """The faults chosen for one request."""

    delay: float = 0.0
    drop_before: bool = False
    error_status: int | None = None
    drop_after: bool = False


def _rate(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")
    return value


class Faults:
    """The sandbox's fault injection; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._random = random.Random()

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def configure(
        self,
        error_rate: float = 0.0,
        statuses: Iterable[int] = DEFAULT_STATUSES,
        latency: tuple[float, float] | list[float] = (0.0, 0.0),
        drop_rate: float = 0.0,
        drop_after_rate: float = 0.0,
        seed: int | None = None,
        webhook_drop_rate: float = 0.0,
        only_tokens: Iterable[str] | None = None,
    ) -> FaultConfig:
        """Set every fault at once (anything not given goes back to "no fault").

        `error_rate`: share of requests answered with one of `statuses` without applying them;
        `latency`: (low, high) seconds of uniform random delay added to each request;
        `drop_rate`: share of connections closed with no response, before applying;
        `drop_after_rate`: share applied, then closed with no response;
        `webhook_drop_rate`: share of webhook deliveries never sent (logged as dropped);
        `only_tokens`: fault only the requests made with these tokens (e.g. the worker's,
        so that the people in a test act on a healthy Trello while the worker does not).
        """
        codes = tuple(int(code) for code in statuses)
        if not codes or any(code < 400 or code > 599 for code in codes):
            raise ValueError("statuses must be HTTP error codes (400-599)")
        low, high = (float(bound) for bound in latency)
        if low < 0 or high < low:
            raise ValueError("latency must be (low, high) with 0 <= low <= high")
        config = FaultConfig(
            error_rate=_rate("error_rate", error_rate),
            statuses=codes,
            latency=(low, high),
            drop_rate=_rate("drop_rate", drop_rate),
            drop_after_rate=_rate("drop_after_rate", drop_after_rate),
            seed=seed,
            only_tokens=None if only_tokens is None else frozenset(only_tokens),
            webhook_drop_rate=_rate("webhook_drop_rate", webhook_drop_rate),
        )
        with self._lock:
            self._config = config
            self._random = random.Random(seed)
        return config

    def reset(self) -> None:
        """No faults."""
        self.configure()

    def decide(self, token: str | None = None) -> FaultDecision:
        with self._lock:
            config, rnd = self._config, self._random
            if config.only_tokens is not None and token not in config.only_tokens:
                return FaultDecision()
            delay = rnd.uniform(*config.latency) if config.latency[1] > 0 else 0.0
            if config.drop_rate and rnd.random() < config.drop_rate:
                return FaultDecision(delay=delay, drop_before=True)
            if config.error_rate and rnd.random() < config.error_rate:
                return FaultDecision(delay=delay, error_status=rnd.choice(config.statuses))
            drop_after = bool(config.drop_after_rate) and rnd.random() < config.drop_after_rate
            return FaultDecision(delay=delay, drop_after=drop_after)

    def drop_delivery(self) -> bool:
        """Whether to drop one webhook delivery (see `webhook_drop_rate`)."""
        with self._lock:
            rate = self._config.webhook_drop_rate
            return bool(rate) and self._random.random() < rate


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may go ahead, and the budget left (Trello's response headers)."""

    error: str | None
    token_limit: int
    token_remaining: int
    key_limit: int
    key_remaining: int
    window: float

    def headers(self) -> dict[str, str]:
        interval = str(int(self.window * 1000))
        return {
            "x-rate-limit-api-token-interval-ms": interval,
            "x-rate-limit-api-token-max": str(self.token_limit),
            "x-rate-limit-api-token-remaining": str(self.token_remaining),
            "x-rate-limit-api-key-interval-ms": interval,
            "x-rate-limit-api-key-max": str(self.key_limit),
            "x-rate-limit-api-key-remaining": str(self.key_remaining),
        }


class RateLimit:
    """Trello's per-token and per-key sliding-window limits; thread-safe."""

    def __init__(
        self,
        token_limit: int = 100,
        key_limit: int = 300,
        window: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.token_limit, self.key_limit, self.window = 0, 0, 0.0
        self.set(token_limit, key_limit, window)

    def set(self, token_limit: int, key_limit: int, window: float) -> None:
        if token_limit < 1 or key_limit < 1 or window <= 0:
            raise ValueError("rate limits need at least one request per positive window")
        with self._lock:
            self.token_limit, self.key_limit, self.window = token_limit, key_limit, float(window)
            self._seen.clear()

    def _recent(self, name: str, now: float) -> collections.deque[float]:
        seen = self._seen[name]
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def check(self, key: str, token: str) -> RateDecision:
        """Count one request for `key` and `token` if both have budget left."""
        with self._lock:
            now = self._clock()
            by_token = self._recent("token:" + token, now)
            by_key = self._recent("key:" + key, now)
            error = None
            if len(by_token) >= self.token_limit:
                error = "API_TOKEN_LIMIT_EXCEEDED"
            elif len(by_key) >= self.key_limit:
                error = "API_KEY_LIMIT_EXCEEDED"
            else:
                by_token.append(now)
                by_key.append(now)
            return RateDecision(
                error=error,
                token_limit=self.token_limit,
                token_remaining=max(0, self.token_limit - len(by_token)),
                key_limit=self.key_limit,
                key_remaining=max(0, self.key_limit - len(by_key)),
                window=self.window,
            )
