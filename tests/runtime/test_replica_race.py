"""Two replicas racing on one due reminder, a hundred times: it is posted once every time.

Leases keep replicas off each other's boards; this is what happens if they overlap all the
same (a board moving while its old holder is still mid-cycle). Two `Worker`s, each with its
own connections to one PostgreSQL database and its own HTTP session to the sandbox, send
the same due reminder: released together, the second one `STAGGER` later in turn (0 to
70 ms), so that it comes before, during and after the first one's post, which the sandbox
makes take 0 to 60 ms (`LATENCY`, seeded). Arriving during it, it finds the first one's claim
`sending`, and must not take it for a dead replica's (without that check, this fails).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import postgres
from tests.factories import in_process_worker, sandbox_values
from worker.core import reminders, rules
from worker.core.model import Ended
from worker.demo import Person
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox
from worker.settings import load_settings

ROUNDS = 100
LATENCY = (0.0, 0.06)
STAGGER = [step * 0.01 for step in range(8)]


@pytest.fixture
def two_replicas(tmp_path: Path) -> Iterator[tuple[Worker, Worker, Person, Sandbox]]:
    sb = Sandbox.seeded(rate_limit=(1000, 3000, 10.0))  # alice makes a hundred cards quickly
    with postgres.database("postgresql", tmp_path) as url, sb.serve() as server:
        values = sandbox_values(sb, server, url, INCIDENT_ROLE_REMINDER_SECONDS="300")
        settings = load_settings(values, env_file=None)
        alice = Person(sb, server.url, "alice")
        with in_process_worker(settings) as first, in_process_worker(settings) as second:
            try:
                yield first, second, alice, sb
            finally:
                alice.close()


def test_two_replicas_racing_on_one_due_reminder_post_it_once_every_time(
    two_replicas: tuple[Worker, Worker, Person, Sandbox],
) -> None:
    first, second, alice, sb = two_replicas
    sb.faults.configure(latency=LATENCY, seed=8, only_tokens=[sb.members["worker"].token])
    first.boards.take_share()  # the first holds the board; the second works on it all the same
    (held,) = first.leases.boards()
    board = first.boards.ready(held)
    for worker in (first, second):
        worker.leases.heartbeat()  # both alive: neither's claim is the other's to take over
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    posted: list[int] = []
    for n in range(ROUNDS):
        card = alice.create_card(board.id, f"Outage {n}")
        now = datetime.now(UTC)
        declared_at = now - timedelta(minutes=6)
        incident, _ = rules.declare(
            card.id, card.name, board.id, by="alice", at=declared_at, policy=first.policy
        )
        assert [c.key for c in reminders.due(incident, now, first.policy)[1]] == [
            "role-communicator-1"
        ]
        first.store.incidents.save(incident)

        def race(worker: Worker, later: float) -> None:
            try:
                barrier.wait(timeout=10)
                time.sleep(later)
                worker.handler.remind(board, worker.policy)
            except BaseException as exc:  # surfaced below: a thread's failure fails the test
                errors.append(exc)
                barrier.abort()

        threads = [
            threading.Thread(target=race, args=(first, 0.0)),
            threading.Thread(target=race, args=(second, STAGGER[n % len(STAGGER)])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        worker_id = sb.members["worker"].id
        with sb.state.lock:
            comments = [
                a
                for a in sb.state.card_actions(card.id)
                if a.type == "commentCard" and a.member_id == worker_id
            ]
        posted.append(len(comments))
        first.store.incidents.save(rules.end(incident, Ended.ARCHIVED, now))
    assert posted == [1] * ROUNDS
