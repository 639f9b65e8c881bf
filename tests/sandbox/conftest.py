"""Fixtures for the sandbox tests: a served sandbox, and py-trello clients that talk to it.

`sandbox` yields `(sb, server)` and stops the server afterwards; `sandbox_factory` makes more
(with a clock or rate limit of the test's choosing). `trello` makes a py-trello `TrelloClient`
acting as one of the seeded members, over the project's `TrelloSession` (auth in the OAuth
header); `plain_trello` does the same over `PrefixSession`, which only rewrites Trello's URL
prefix (auth in the query string, py-trello's own way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from trello import TrelloClient

from tests.factories import StepClock
from worker.sandbox import Sandbox, SandboxServer
from worker.trello.session import RetryPolicy, TrelloSession

TRELLO_PREFIX = "https://api.trello.com/1/"


class PrefixSession(requests.Session):
    """A `requests.Session` that sends py-trello's `https://api.trello.com/1/` to `base_url`."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        url = str(url)
        if url.startswith(TRELLO_PREFIX):
            url = self.base_url + url[len(TRELLO_PREFIX) :]
        return super().request(method, url, *args, **kwargs)


SandboxFactory = Callable[..., tuple[Sandbox, SandboxServer]]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    servers: list[SandboxServer] = []

    def make(**kwargs: Any) -> tuple[Sandbox, SandboxServer]:
        sb = Sandbox.seeded(**kwargs)
        server = sb.serve()
        servers.append(server)
        return sb, server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> tuple[Sandbox, SandboxServer]:
    return sandbox_factory()


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()


@pytest.fixture
def sessions() -> Iterator[list[requests.Session]]:
    """Sessions a test opens; all closed at teardown."""
    opened: list[requests.Session] = []
    yield opened
    for session in opened:
        session.close()


ClientFactory = Callable[..., TrelloClient]


def _clients(
    sandbox: tuple[Sandbox, SandboxServer],
    sessions: list[requests.Session],
    session: Callable[[str], requests.Session],
) -> ClientFactory:
    sb, server = sandbox

    def make(member: str = "worker") -> TrelloClient:
        made = session(server.url)
        sessions.append(made)
        return TrelloClient(sb.api_key, api_secret=sb.members[member].token, http_service=made)

    return make


@pytest.fixture
def trello(
    sandbox: tuple[Sandbox, SandboxServer], sessions: list[requests.Session]
) -> ClientFactory:
    """`trello("alice")`: a py-trello client acting as that member, over `TrelloSession`."""
    return _clients(
        sandbox, sessions, lambda url: TrelloSession(url, retry=RetryPolicy(attempts=1))
    )


@pytest.fixture
def plain_trello(
    sandbox: tuple[Sandbox, SandboxServer], sessions: list[requests.Session]
) -> ClientFactory:
    """Like `trello`, over `PrefixSession`: key and token stay in the query string."""
    return _clients(sandbox, sessions, PrefixSession)


@pytest.fixture
def http(sessions: list[requests.Session]) -> requests.Session:
    """A plain session for raw HTTP requests."""
    session = requests.Session()
    sessions.append(session)
    return session


def client_for(
    sb: Sandbox, server: SandboxServer, sessions: list[requests.Session], member: str = "worker"
) -> TrelloClient:
    """A py-trello client on any served sandbox, over `TrelloSession` (closed at teardown)."""
    session = TrelloSession(server.url, retry=RetryPolicy(attempts=1))
    sessions.append(session)
    return TrelloClient(sb.api_key, api_secret=sb.members[member].token, http_service=session)
