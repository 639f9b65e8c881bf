"""Factories shared by the tests: the template, settings, the policy, clocks, events, paths."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from worker.core import rules
from worker.core.model import CommItem, Incident, Policy
from worker.core.trello_json import Event
from worker.runtime.worker import Worker, utcnow
from worker.sandbox import Sandbox, SandboxServer
from worker.settings import Settings, build_policy, load_settings
from worker.store.database import Store
from worker.template import Moment, Template, load_template
from worker.trello.client import Trello

if TYPE_CHECKING:
    from worker.demo import Person

#: The checkout's root folder.
ROOT = Path(__file__).resolve().parents[1]
#: The default template, as shipped.
TEMPLATE_PATH = ROOT / "config" / "incident-template.md"
TEMPLATE: Template = load_template(TEMPLATE_PATH)

E = TypeVar("E", bound=Event)


def settings(**values: str) -> Settings:
    """Settings as the worker would read them, from `values` (names as in the environment)."""
    given = {"TRELLO_API_KEY": "k" * 32, "TRELLO_TOKEN": "t" * 64, "TRELLO_BOARD_ID": "b1"}
    return load_settings({**given, **values}, env_file=None)


def a_policy(template: Template = TEMPLATE, worker_member_id: str = "w0", **changes: Any) -> Policy:
    """The policy the default settings give, with `changes` (field names of `Policy`)."""
    built = build_policy(settings(), template, worker_member_id)
    return replace(built, **changes)


# -- clocks -----------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


class StepClock:
    """A settable UTC clock; `advance` moves it on."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


# -- events -----------------------------------------------------------------------------------

#: The people of the core's tables, by username: their member ids.
MEMBERS = {"alice": "m1", "bob": "m2", "carol": "m3", "incident-worker": "w0"}


def an_event(
    kind: type[E], at: datetime, who: str = "bob", action_id: str | None = None, **extra: Any
) -> E:
    """An event of `kind` on card c1 of board b1, by `who` (one of `MEMBERS`), at `at`."""
    return kind(
        action_id=action_id or f"a{at.timestamp():.0f}",
        at=at,
        member_id=MEMBERS[who],
        username=who,
        card_id="c1",
        card_name="Checkout is down",
        short_link="AbCd1234",
        board_id="b1",
        **extra,
    )


# -- a worker in this process, on a sandbox ---------------------------------------------------


def sandbox_values(
    sb: Sandbox, server: SandboxServer, database_url: str, **extra: str
) -> dict[str, str]:
    """The settings that point a worker at `sb`'s first board, and `extra` (by variable name)."""
    return {
        "TRELLO_API_URL": server.url,
        "TRELLO_API_KEY": sb.api_key,
        "TRELLO_TOKEN": sb.members["worker"].token,
        "TRELLO_BOARD_ID": sb.board_ids[0],
        "INCIDENT_DATABASE_URL": database_url,
        **extra,
    }


@contextmanager
def in_process_worker(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Worker]:
    """The worker as `incident-worker run` builds it, in this process; started, closed after.

    `sleep` is what the gateway's retries and limiter wait with.
    """
    trello = Trello.from_settings(settings, sleep=sleep)
    store = Store.open(settings.database_url)
    template = load_template(settings.template_path or TEMPLATE_PATH)
    worker = Worker(settings, trello, store, template, clock=clock)
    try:
        worker.start()
        yield worker
    finally:
        trello.close()
        store.close()


def an_incident(policy: Policy, at: datetime, **update: object) -> Incident:
    """ "Checkout is down", declared by @alice at `at`: its communication items known (ids
    `i-detection`...), @bob the communicator; `update` over that."""
    declared, _ = rules.declare("c1", "Checkout is down", "b1", by="alice", at=at, policy=policy)
    items = {m: CommItem(checklist_id="cl1", item_id=f"i-{m.value}", name=m.value) for m in Moment}
    return declared.model_copy(update={"comm_items": items, "communicator": "bob", **update})


def worker_comments(sb: Sandbox, card_id: str) -> list[str]:
    """The comments the worker posted on the card, oldest first, read off the sandbox."""
    worker_id = sb.members["worker"].id
    with sb.state.lock:
        actions = sb.state.card_actions(card_id)
    return [a.data["text"] for a in actions if a.type == "commentCard" and a.member_id == worker_id]


@contextmanager
def http_receiver(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A real local HTTP server answering with `handler`, on a free port (yielded)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def served_worker(folder: Path, **extra: str) -> Iterator[tuple[Worker, Person, Sandbox]]:
    """A seeded sandbox served over HTTP, @alice acting on it, and the worker in-process with
    `extra` settings (by variable name) on a clock the test moves, after its first look at
    the board."""
    from worker.demo import Person

    sb = Sandbox.seeded()
    with sb.serve() as server:
        values = sandbox_values(sb, server, f"sqlite:///{folder}/w.sqlite3", **extra)
        alice = Person(sb, server.url, "alice")
        try:
            settings = load_settings(values, env_file=None)
            with in_process_worker(settings, clock=StepClock(datetime.now(UTC))) as worker:
                worker.cycle(reconcile=True)
                yield worker, alice, sb
        finally:
            alice.close()
