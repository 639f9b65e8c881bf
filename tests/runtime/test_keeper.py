"""Two workers with databases of their own on one board: one keeps it, the other leaves it be.

In-process, against the served sandbox, on a clock the test moves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import StepClock, in_process_worker, sandbox_values
from worker.core import keeping
from worker.demo import Person
from worker.errors import BoardKeptElsewhere
from worker.runtime.keeper import Keeper
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox
from worker.settings import load_settings


def archived_claims(sb: Sandbox) -> list[keeping.Claim]:
    with sb.state.lock:
        cards = [c for c in sb.state.cards.values() if c.closed]
        return [claim for c in cards if (claim := keeping.read(c.desc)) is not None]


def declared(sb: Sandbox, card_id: str) -> int:
    worker_id = sb.members["worker"].id
    with sb.state.lock:
        actions = sb.state.card_actions(card_id)
    return sum(
        1
        for a in actions
        if a.type == "commentCard"
        and a.member_id == worker_id
        and a.data["text"].startswith("**Incident declared**")
    )


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Worker, Worker, StepClock, Person, Sandbox]]:
    clock = StepClock(datetime.now(UTC))
    sb = Sandbox.seeded()
    with sb.serve() as server, ExitStack() as stack:
        workers = [
            stack.enter_context(
                in_process_worker(
                    load_settings(
                        sandbox_values(sb, server, f"sqlite:///{tmp_path}/{name}.sqlite3"),
                        env_file=None,
                    ),
                    clock=clock,
                )
            )
            for name in ("first", "second")
        ]
        alice = Person(sb, server.url, "alice")
        stack.callback(alice.close)
        yield workers[0], workers[1], clock, alice, sb


def test_the_second_worker_leaves_the_board_to_the_first_until_its_claim_lapses(
    two: tuple[Worker, Worker, StepClock, Person, Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    first, second, clock, alice, sb = two
    first.cycle(reconcile=True)
    (claim,) = archived_claims(sb)
    assert claim.database == first.store.identity.get()

    with caplog.at_level(logging.INFO):
        second.cycle(reconcile=True)
        second.cycle(reconcile=True)
    refusals = [r.getMessage() for r in caplog.records if "is kept by another" in r.getMessage()]
    assert len(refusals) == 1  # said once
    assert "Workers that share a board must share one database" in refusals[0]
    assert second.store.template_cards.get(sb.board_ids[0]) is None  # it made no card

    card = alice.create_card(sb.board_ids[0], "Checkout is down")
    alice.label(card.id, "Incident")
    for worker in (first, second, first, second):
        worker.cycle()
    assert declared(sb, card.id) == 1
    assert second.store.incidents.get(card.id) is None

    # the first stops stamping (it is gone); after a while its claim lapses
    clock.now += keeping.KEPT_FOR + keeping.STAMP_EVERY
    caplog.clear()
    with caplog.at_level(logging.INFO):
        second.cycle(reconcile=True)
    assert any("no other worker keeps it now" in r.getMessage() for r in caplog.records)
    assert second.store.template_cards.get(sb.board_ids[0]) is not None
    assert {c.database for c in archived_claims(sb)} == {
        first.store.identity.get(),
        second.store.identity.get(),
    }
    # and the first, back a minute later, finds the board kept by the second
    clock.now += timedelta(minutes=1)
    first.cycle(reconcile=True)
    second.cycle()
    fresh = alice.create_card(sb.board_ids[0], "Search is slow")
    alice.label(fresh.id, "Incident")
    clock.now += keeping.STAMP_EVERY
    for worker in (first, second, first, second):
        worker.cycle()
    assert declared(sb, fresh.id) == 1 and first.store.incidents.get(fresh.id) is None


def test_a_claim_of_a_process_no_longer_running_on_this_host_has_lapsed(
    two: tuple[Worker, Worker, StepClock, Person, Sandbox],
) -> None:
    """A worker restarted with a new database (the old one lost) need not wait for the
    claim its former process left."""
    first, second, clock, _, sb = two
    first.cycle(reconcile=True)
    (claim,) = archived_claims(sb)

    def keeper(*, running: bool) -> Keeper:
        return Keeper(
            second.trello,
            second.store.identity.get,
            clock=clock,
            host=claim.host,
            pid=claim.pid + 1,
            running=lambda pid: running,
        )

    with pytest.raises(BoardKeptElsewhere, match="is kept by another incident-worker"):
        keeper(running=True).check(sb.board_ids[0], "Incidents")
    keeper(running=False).check(sb.board_ids[0], "Incidents")  # lapsed: no error
