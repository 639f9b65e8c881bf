"""One worker cycle, in-process against the served sandbox, on a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.factories import (
    TEMPLATE_PATH,
    StepClock,
    in_process_worker,
    sandbox_values,
    utcnow,
    worker_comments,
)
from worker.demo import Person
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox, SandboxServer
from worker.sandbox.model import iso
from worker.settings import load_settings
from worker.template import Moment


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Worker, StepClock, Person, Sandbox]]:
    sb = Sandbox.seeded()
    with sb.serve() as server:
        values = sandbox_values(
            sb,
            server,
            f"sqlite:///{tmp_path}/w.sqlite3",
            INCIDENT_ROLE_REMINDER_SECONDS="86400",
            INCIDENT_STATUS_UPDATE_SECONDS="86400",
        )
        clock = StepClock(datetime.now(UTC))
        alice = Person(sb, server.url, "alice")
        try:
            with in_process_worker(load_settings(values, env_file=None), clock=clock) as worker:
                yield worker, clock, alice, sb
        finally:
            alice.close()


@contextmanager
def boards_served(
    tmp_path: Path, sb: Sandbox, clock: Callable[[], datetime] = utcnow
) -> Iterator[tuple[Worker, Person]]:
    """An in-process worker watching every board of `sb` (served), and alice acting there."""
    with sb.serve() as server:
        values = sandbox_values(
            sb, server, f"sqlite:///{tmp_path}/w.sqlite3", TRELLO_BOARD_ID=",".join(sb.board_ids)
        )
        alice = Person(sb, server.url, "alice")
        try:
            with in_process_worker(load_settings(values, env_file=None), clock=clock) as worker:
                yield worker, alice
        finally:
            alice.close()


def declared(worker: Worker, alice: Person, sb: Sandbox) -> str:
    """A card alice labels once the worker has looked at the board, declared in one cycle."""
    worker.cycle(reconcile=True)
    card = alice.create_card(sb.board_ids[0], "Checkout is down")
    alice.label(card.id, "Incident")
    worker.cycle(reconcile=False)
    return str(card.id)


def reminders(sb: Sandbox, card_id: str) -> list[str]:
    return [text for text in worker_comments(sb, card_id) if text.startswith("Reminder ")]


def test_a_card_the_worker_writes_to_every_cycle_is_still_compared(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    """A reminder posted every cycle changes the card after the feed's cursor each time; the
    reconcile pass must still see that people removed the checklist it reminds about."""
    worker, clock, alice, sb = running
    card_id = declared(worker, alice, sb)
    assert worker.store.incidents.get(card_id) is not None
    alice.delete_checklist(card_id, "Until the problem is resolved")
    for _ in range(4):
        clock.now += timedelta(hours=1)  # a reminder is due at every cycle
        worker.cycle(reconcile=True)
    assert len(reminders(sb, card_id)) == 1  # the first, posted before the pass saw it gone


def test_a_card_labelled_before_the_first_pass_is_reminded_about(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    """Declared by the reconcile pass, from the board as read before its checklists were
    added: comparing it with that read would take its communication items for removed."""
    worker, clock, alice, sb = running
    card = alice.create_card(sb.board_ids[0], "Checkout is down")
    alice.label(card.id, "Incident")
    worker.cycle(reconcile=True)
    incident = worker.store.incidents.get(card.id)
    assert incident is not None and incident.comm_items
    assert not any(item.gone for item in incident.comm_items.values())
    clock.now += timedelta(minutes=16)
    worker.cycle()
    assert [text.split(":")[0] for text in reminders(sb, card.id)] == ["Reminder 1"]


def test_reminders_wait_longer_each_time_escalate_once_and_hold_while_snoozed(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    worker, clock, alice, sb = running
    card_id = declared(worker, alice, sb)
    alice.comment(card_id, "/communicator @bob\n/snooze 1h")
    worker.cycle(reconcile=False)
    start = clock.now
    for minutes in range(5, 6 * 60, 5):
        clock.now = start + timedelta(minutes=minutes)
        worker.cycle()
        if minutes == 55:
            assert reminders(sb, card_id) == []  # snoozed
    said = reminders(sb, card_id)
    # due at 15, 45, 105, 165, 225, 285 and 345 min: the first two fell in the snooze, the
    # second is sent when it ends; the third unanswered brings in the lead, once
    assert [text.split(":")[0] for text in said] == [f"Reminder {n}" for n in range(2, 8)]
    assert ["@alice (lead)" in text for text in said] == [False, True, False, False, False, False]
    incident = worker.store.incidents.get(card_id)
    assert incident is not None and incident.escalated == {Moment.DETECTION: 1}


def create_labelled(alice: Person, board_id: str, name: str) -> str:
    """A card created with the Incident label on it: Trello records only `createCard`."""
    board = alice.client.get_board(board_id)
    (doing,) = [item for item in board.list_lists() if item.name == "Doing"]
    (label,) = [item for item in board.get_labels() if item.name == "Incident"]
    return str(doing.add_card(name, labels=[label]).id)


@pytest.mark.parametrize("seen", ["in the feed", "by the reconcile pass"])
def test_a_card_created_with_the_label_is_declared_by_whoever_created_it(
    running: tuple[Worker, StepClock, Person, Sandbox], seen: str
) -> None:
    worker, _, alice, sb = running
    if seen == "in the feed":
        worker.cycle(reconcile=True)  # the feed's cursor starts before the card is made
    card_id = create_labelled(alice, sb.board_ids[0], "Checkout is down")
    worker.cycle(reconcile=seen != "in the feed")
    incident = worker.store.incidents.get(card_id)
    assert incident is not None
    assert (incident.declared_by, incident.lead) == ("alice", "alice")


def test_actions_whose_ids_run_backwards_within_a_second_are_all_handled(tmp_path: Path) -> None:
    """Trello's ids are not ordered within a second; here every action is made in the same
    second and each id is smaller than the one before. Reading the feed from the last id
    would lose every action after the first one handled."""
    same_second = StepClock(datetime.now(UTC))
    sb = Sandbox.seeded(clock=same_second, ids_in_order=False)
    with sb.serve() as server:
        values = sandbox_values(sb, server, f"sqlite:///{tmp_path}/w.sqlite3")
        alice = Person(sb, server.url, "alice")
        try:
            with in_process_worker(load_settings(values, env_file=None)) as worker:
                worker.cycle(reconcile=True)
                card = alice.create_card(sb.board_ids[0], "Checkout is down")
                alice.label(card.id, "Incident")
                worker.cycle(reconcile=False)
                alice.comment(card.id, "/communicator @bob")
                worker.cycle(reconcile=False)
                alice.comment(card.id, "/delvers @carol")
                worker.cycle(reconcile=False)
                incident = worker.store.incidents.get(card.id)
        finally:
            alice.close()
    assert incident is not None
    assert (incident.communicator, incident.delvers) == ("bob", ("carol",))


def test_a_board_taken_up_again_is_compared_with_its_cards_in_that_cycle(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    worker, _, alice, sb = running
    worker.cycle(reconcile=True)
    compared = worker.reconciled_at
    worker.cycle()  # nothing new: the reconcile pass is not due
    assert worker.reconciled_at == compared
    worker.leases.leave()  # as when another replica held it meanwhile
    card_id = create_labelled(alice, sb.board_ids[0], "Checkout is down")
    worker.cycle()
    assert worker.reconciled_at != compared
    assert worker.store.incidents.get(card_id) is not None


def test_a_card_created_then_labelled_in_one_poll_costs_no_look_at_the_board(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    worker, _, alice, sb = running
    worker.cycle(reconcile=True)
    card = alice.create_card(sb.board_ids[0], "Checkout is down")
    alice.label(card.id, "Incident")
    before = len(sb.request_log)
    worker.cycle(reconcile=False)
    assert worker.store.incidents.get(card.id) is not None
    looked = [r for r in sb.request_log[before:] if r.path.endswith("/cards") and r.method == "GET"]
    assert looked == []


def test_an_update_promise_kept_holds_the_asks_and_one_missed_gets_one_nudge(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    worker, clock, alice, sb = running
    card_id = declared(worker, alice, sb)
    alice.comment(card_id, "/communicator @bob\n/update failing over; next in 30m")
    worker.cycle(reconcile=False)
    alice.comment(card_id, "/update on the backup provider; next in 20m")  # the first kept
    worker.cycle(reconcile=False)
    start = clock.now
    nudged = []
    for minutes in range(5, 60, 5):
        clock.now = start + timedelta(minutes=minutes)
        worker.cycle()
        nudged.append(
            sum("the next update was promised" in t for t in worker_comments(sb, card_id))
        )
    assert nudged[:3] == [0, 0, 0] and nudged[-1] == 1  # due at 20 min: nudged once, after
    header = alice.client.get_card(card_id).description
    assert "- Latest update (" in header and "on the backup provider" in header


def test_tell_all_ticks_the_audiences_and_the_moment_on_the_card(
    running: tuple[Worker, StepClock, Person, Sandbox],
) -> None:
    worker, clock, alice, sb = running
    card_id = declared(worker, alice, sb)
    alice.comment(card_id, "/communicator @bob\n/tell all")
    worker.cycle(reconcile=False)
    card = alice.client.get_card(card_id)
    ticked = {
        item["name"].removeprefix("↳ ")
        for cl in card.checklists
        for item in cl.items
        if item["checked"]
    }
    assert any(name.startswith("The support team.") for name in ticked)
    assert any(name.startswith("Auction houses") for name in ticked)
    assert any(name.startswith("Buyers, sellers") for name in ticked)
    assert any(name.endswith("When we first notice the problems.") for name in ticked)
    receipt = next(t for t in worker_comments(sb, card_id) if t.startswith("**Told**"))
    assert receipt.startswith("**Told** support, auction-houses, buyers-sellers (noticed), by")
    clock.now += timedelta(hours=2)
    worker.cycle(reconcile=True)
    assert reminders(sb, card_id) == []  # told: no reminder


def test_an_idle_cycle_reads_many_boards_feeds_in_one_request(tmp_path: Path) -> None:
    sb = Sandbox.seeded(boards=3)
    with sb.serve() as server:
        values = sandbox_values(
            sb, server, f"sqlite:///{tmp_path}/w.sqlite3", TRELLO_BOARD_ID=",".join(sb.board_ids)
        )
        alice = Person(sb, server.url, "alice")
        try:
            before = alice.create_card(sb.board_ids[0], "Made before the worker came")
            with sb.state.lock:
                (made,) = sb.state.records.card_actions(before.id)
            with in_process_worker(load_settings(values, env_file=None)) as worker:
                worker.cycle(reconcile=True)
                # the board's feed starts at its newest action, read with the others in a batch
                assert worker.store.cursors.get(sb.board_ids[0]) == (made.id, iso(made.date))
                assert worker.store.handled.seen(made.id)
                alone = [
                    e.path
                    for e in sb.request_log
                    if e.member_username == "incident-worker"
                    and not e.batched
                    and e.method == "GET"
                ]
                for board in sb.board_ids:  # each board taken up from batched reads
                    assert f"/1/boards/{board}" not in alone
                    assert f"/1/boards/{board}/cards/closed" not in alone
                card = alice.create_card(sb.board_ids[2], "Checkout is down")
                alice.label(card.id, "Incident")
                sb.clear_request_log()
                worker.cycle(reconcile=False)
                assert "Incident declared" in worker_comments(sb, card.id)[0]
                sb.clear_request_log()
                worker.cycle(reconcile=False)  # idle
                made = [(e.method, e.path) for e in sb.request_log if not e.batched]
                assert made == [("GET", "/1/batch")]
                routes = [e.path for e in sb.request_log if e.batched]
                assert routes == [f"/1/boards/{b}/actions" for b in sb.board_ids]
                sb.clear_request_log()
                worker.cycle(
                    reconcile=True
                )  # the reconcile pass reads the cards ten boards a request
                made = [(e.method, e.path) for e in sb.request_log if not e.batched]
                assert made == [("GET", "/1/batch"), ("GET", "/1/batch")]
                routes = [e.path for e in sb.request_log if e.batched]
                assert routes[3:] == [f"/1/boards/{b}/cards" for b in sb.board_ids]
        finally:
            alice.close()


def test_the_template_card_is_built_once_and_copied_to_the_other_boards(tmp_path: Path) -> None:
    from worker.template import load_template

    sb = Sandbox.seeded(boards=3)
    with sb.serve() as server:
        values = sandbox_values(
            sb, server, f"sqlite:///{tmp_path}/w.sqlite3", TRELLO_BOARD_ID=",".join(sb.board_ids)
        )
        settings = load_settings(values, env_file=None)
        with in_process_worker(settings) as worker:
            worker.cycle(reconcile=True)
            log = [e for e in sb.request_log if not e.batched]
            items = sum(len(c.items) for c in load_template(TEMPLATE_PATH).checklists)
            posted_items = [e for e in log if e.method == "POST" and e.path.endswith("/checkItems")]
            assert len(posted_items) == items  # one board's card built item by item
            made = [e for e in log if e.method == "POST" and e.path == "/1/cards"]
            assert len(made) == 3  # and one card a board
            # a copy says the worker's claim from the start and is archived: no other write
            cards = {
                b: [c for c in sb.state.records.board_cards(b) if c.closed] for b in sb.board_ids
            }
            for board in sb.board_ids:
                (template_card,) = cards[board]
                assert "Kept by incident-worker" in template_card.desc
            puts = [e.path for e in log if e.method == "PUT"]
            for board in sb.board_ids[1:]:
                assert puts.count(f"/1/cards/{cards[board][0].id}") == 1
            names = {
                b: sorted(
                    c.name
                    for card in sb.state.records.board_cards(b)
                    for c in sb.state.records.card_checklists(card)
                )
                for b in sb.board_ids
            }
            assert names[sb.board_ids[1]] == names[sb.board_ids[0]] == names[sb.board_ids[2]]
            assert len(names[sb.board_ids[0]]) == len(load_template(TEMPLATE_PATH).checklists)
            # each board's incidents get their checklists from the board's own card
            alice = Person(sb, server.url, "alice")
            try:
                card = alice.create_card(sb.board_ids[2], "Checkout is down")
                alice.label(card.id, "Incident")
                worker.cycle(reconcile=False)
                found = worker.store.incidents.get(card.id)
                assert found is not None and len(found.checklists) == 1
            finally:
                alice.close()


def test_a_cold_start_watches_every_board_before_making_their_template_cards(
    tmp_path: Path,
) -> None:
    """Twelve new boards: the first cycle reads every feed, declares the label waiting on the
    last board (whose card is made first, for it), then makes ten boards' cards; the next
    cycle makes the one left. Each card says the worker's claim from the start."""
    from worker.runtime.boards import TEMPLATE_CARDS_PER_CYCLE

    sb = Sandbox.seeded(boards=12)

    def template_cards() -> dict[str, list[str]]:
        with sb.state.lock:
            return {
                b: [c.desc for c in sb.state.records.board_cards(b) if c.closed]
                for b in sb.board_ids
            }

    with boards_served(tmp_path, sb) as (worker, alice):
        waiting = create_labelled(alice, sb.board_ids[-1], "Checkout is down")
        worker.cycle(reconcile=True)
        assert all(worker.store.cursors.get(b) is not None for b in sb.board_ids)
        assert "Incident declared" in worker_comments(sb, waiting)[0]
        made = template_cards()
        assert len([b for b, cards in made.items() if cards]) == 1 + 10
        assert TEMPLATE_CARDS_PER_CYCLE == 10 and made[sb.board_ids[-1]]
        ours = [e for e in sb.request_log if e.member_username == "incident-worker"]
        first_write = next(i for i, e in enumerate(ours) if e.method != "GET")
        read_before = {e.path.split("/")[3] for e in ours[:first_write] if e.batched}
        assert read_before >= set(sb.board_ids)  # every board read before any card
        worker.cycle(reconcile=False)
        made = template_cards()
        assert all(len(cards) == 1 for cards in made.values())
        assert all("Kept by incident-worker" in cards[0] for cards in made.values())
        worker.cycle(reconcile=False)
        assert template_cards() == made  # nothing made twice


def test_a_board_without_actions_is_read_from_its_beginning_whatever_the_workers_clock(
    tmp_path: Path,
) -> None:
    """Its feed starts from its beginning, by Trello's dates: a worker whose clock runs a month
    ahead of Trello's still sees the first label put there. (Two boards, taken up together:
    their template cards are made after their feeds start.)"""
    sb = Sandbox.seeded(boards=2)
    ahead = StepClock(datetime.now(UTC) + timedelta(days=30))
    with boards_served(tmp_path, sb, ahead) as (worker, alice):
        worker.cycle(reconcile=False)
        assert worker.store.cursors.get(sb.board_ids[0]) == ("", "")
        card = create_labelled(alice, sb.board_ids[0], "Checkout is down")
        worker.cycle(reconcile=False)
        assert "Incident declared" in worker_comments(sb, card)[0]


def test_a_burst_of_labels_is_declared_a_few_cards_at_once_each_once(tmp_path: Path) -> None:
    """Eight cards labelled in one poll: their declarations keep several requests in flight
    together (each card's in order), and each card is declared once."""
    sb = Sandbox.seeded()
    with boards_served(tmp_path, sb) as (worker, alice):
        worker.cycle(reconcile=True)
        cards = [alice.create_card(sb.board_ids[0], f"Down {n}").id for n in range(8)]
        for card in cards:
            alice.label(card, "Incident")
        sb.faults.configure(latency=(0.05, 0.05))  # requests long enough to overlap
        sb.clear_request_log()
        worker.cycle(reconcile=False)
        assert sb.most_in_flight >= 2
        for card in cards:
            said = worker_comments(sb, card)
            assert sum("Incident declared" in text for text in said) == 1, said
            found = worker.store.incidents.get(card)
            assert found is not None and len(found.checklists) == 1
        with sb.state.lock:
            closed = [c for c in sb.state.records.board_cards(sb.board_ids[0]) if c.closed]
        assert len(closed) == 1  # one template card, however many declared at once


class WithoutNesting:
    """A Trello stand-in that knows no `/batch` and refuses a board's nested archived cards
    or actions (400), in front of the sandbox."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path, query = environ["PATH_INFO"], parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/1/batch":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Cannot GET /1/batch"]
        if (
            path.count("/") == 3
            and path.startswith("/1/boards/")
            and {"cards", "actions"} & set(query)
        ):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"invalid value for cards"]
        return self.app(environ, start_response)


def test_boards_whose_nested_reads_are_refused_are_taken_up_one_read_at_a_time(
    tmp_path: Path,
) -> None:
    sb = Sandbox.seeded(boards=3)
    with SandboxServer(WithoutNesting(sb.app), "127.0.0.1", 0) as server:
        values = sandbox_values(
            sb, server, f"sqlite:///{tmp_path}/w.sqlite3", TRELLO_BOARD_ID=",".join(sb.board_ids)
        )
        alice = Person(sb, server.url, "alice")
        try:
            with in_process_worker(load_settings(values, env_file=None)) as worker:
                worker.cycle(reconcile=True)
                assert all(worker.store.cursors.get(b) is not None for b in sb.board_ids)
                assert not worker.failing_boards()
                card = create_labelled(alice, sb.board_ids[2], "Checkout is down")
                worker.cycle(reconcile=False)
                assert "Incident declared" in worker_comments(sb, card)[0]
        finally:
            alice.close()
