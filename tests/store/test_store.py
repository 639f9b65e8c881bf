"""The store over a real SQLite file and a real PostgreSQL database: incidents, cursors, the
comment-claim protocol."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import TEMPLATE, a_policy
from tests.store.conftest import StoreFactory
from worker.core import rules
from worker.core.model import CommItem, Ended, Incident, Phase
from worker.errors import AlreadyRunning, ConfigError
from worker.store.database import Store, TemplateCard
from worker.template import Moment

POLICY = a_policy(TEMPLATE, "w0")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


def incident(card_id: str = "c1", board_id: str = "b1", **update: object) -> Incident:
    base, _ = rules.declare(card_id, "Checkout is down", board_id, by="alice", at=T0, policy=POLICY)
    return base.model_copy(update=update)


def full_incident() -> Incident:
    """An incident with every kind of field set: phases, roles, checklists, comm items."""
    items = {
        moment: CommItem(
            checklist_id="cl1",
            item_id=f"item-{moment.value}",
            name=TEMPLATE.communication(moment)[1].name,
            ticked=moment is Moment.DETECTION,
            gone=moment is Moment.RESOLUTION,
        )
        for moment in Moment
    }
    return incident(
        phase=Phase.WORKAROUND,
        phase_started={Phase.INVESTIGATING: T0, Phase.WORKAROUND: T0 + timedelta(minutes=42)},
        lead="alice",
        communicator="bob",
        delvers=("carol", "dave"),
        quickfixers=("dave",),
        last_human_comment_at=T0 + timedelta(minutes=5),
        checklists={"Checklist": "cl1", "Other": "cl2"},
        removed_checklists=("Gone",),
        comm_items=items,
    )


# -- incidents ------------------------------------------------------------------------------


def test_an_incident_round_trips_with_every_field(store: Store) -> None:
    saved = full_incident()
    store.incidents.save(saved)
    loaded = store.incidents.get("c1")
    assert loaded == saved
    assert loaded is not None
    assert loaded.phase_started[Phase.WORKAROUND] == T0 + timedelta(minutes=42)
    assert loaded.comm_items[Moment.DETECTION].ticked
    assert loaded.delvers == ("carol", "dave")


def test_an_unknown_card_has_no_incident(store: Store) -> None:
    assert store.incidents.get("nope") is None
    assert store.incidents.all() == []


def test_saving_again_updates_in_place(store: Store) -> None:
    store.incidents.save(incident())
    changed = incident(lead="carol", phase=Phase.RESOLVED)
    store.incidents.save(changed)
    assert store.incidents.get("c1") == changed
    assert store.incidents.all() == [changed]


def test_open_incidents_by_board_leave_out_ended_ones(store: Store) -> None:
    open_b1 = incident("c1", "b1")
    ended_b1 = rules.end(incident("c2", "b1"), Ended.STOOD_DOWN, T0 + timedelta(hours=1))
    open_b2 = incident("c3", "b2")
    for each in (open_b1, ended_b1, open_b2):
        store.incidents.save(each)
    assert [i.card_id for i in store.incidents.open("b1")] == ["c1"]
    assert [i.card_id for i in store.incidents.open("b2")] == ["c3"]
    assert [i.card_id for i in store.incidents.open()] == ["c1", "c3"]
    assert [i.card_id for i in store.incidents.all()] == ["c1", "c2", "c3"]


def test_ending_a_saved_incident_takes_it_out_of_the_open_ones(store: Store) -> None:
    store.incidents.save(incident("c1"))
    store.incidents.save(rules.end(incident("c1"), Ended.ARCHIVED, T0))
    assert store.incidents.open("b1") == []
    loaded = store.incidents.get("c1")
    assert loaded is not None and loaded.ended is Ended.ARCHIVED


# -- cursors --------------------------------------------------------------------------------


def test_cursor_per_board_set_get_and_overwrite(store: Store) -> None:
    assert store.cursors.get("b1") is None
    store.cursors.set("b1", "a1", "2026-03-02T09:00:00.000Z")
    store.cursors.set("b2", "x9", "2026-03-01T00:00:00.000Z")
    assert store.cursors.get("b1") == ("a1", "2026-03-02T09:00:00.000Z")
    store.cursors.set("b1", "a2", "2026-03-02T09:05:00.000Z")
    assert store.cursors.get("b1") == ("a2", "2026-03-02T09:05:00.000Z")
    assert store.cursors.get("b2") == ("x9", "2026-03-01T00:00:00.000Z")


# -- the comment-claim protocol -------------------------------------------------------------


def test_a_key_is_claimed_once(store: Store) -> None:
    assert store.claims.state("k1") is None
    assert store.claims.claim("k1", "c1") is True
    assert store.claims.claim("k1", "c1") is False
    assert store.claims.state("k1") == "sending"


def test_send_state_goes_from_nothing_to_sending_to_sent(store: Store) -> None:
    assert store.claims.state("k1") is None
    store.claims.claim("k1", "c1")
    assert store.claims.state("k1") == "sending"
    store.claims.mark_sent("k1", "comment-1")
    assert store.claims.state("k1") == "sent"
    assert store.claims.claim("k1", "c1") is False


def test_release_forgets_a_sending_claim_so_it_can_be_claimed_again(store: Store) -> None:
    store.claims.claim("k1", "c1")
    store.claims.release("k1")
    assert store.claims.state("k1") is None
    assert store.claims.claim("k1", "c1") is True


def test_release_never_forgets_a_sent_comment(store: Store) -> None:
    store.claims.claim("k1", "c1")
    store.claims.mark_sent("k1", "comment-1")
    store.claims.release("k1")
    assert store.claims.state("k1") == "sent"
    assert store.claims.claim("k1", "c1") is False


def test_sent_keys_lists_one_cards_claims_with_their_state(store: Store) -> None:
    store.claims.claim("c1:1:declared", "c1")
    store.claims.mark_sent("c1:1:declared", "comment-1")
    store.claims.claim("c1:1:reminder-1", "c1")
    store.claims.claim("c2:1:declared", "c2")
    assert store.claims.of_card("c1") == {"c1:1:declared": "sent", "c1:1:reminder-1": "sending"}
    assert store.claims.of_card("c2") == {"c2:1:declared": "sending"}
    assert store.claims.of_card("c3") == {}


def test_two_stores_racing_for_one_key_have_exactly_one_winner(open_store: StoreFactory) -> None:
    stores = (open_store(), open_store())
    rounds = 50
    barrier = threading.Barrier(2)
    wins: list[list[bool]] = [[], []]
    errors: list[BaseException] = []

    def race(side: int) -> None:
        try:
            for n in range(rounds):
                barrier.wait(timeout=10)
                wins[side].append(stores[side].claims.claim(f"c1:1:key-{n}", "c1"))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=race, args=(side,)) for side in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(wins[0]) == len(wins[1]) == rounds
    assert [a + b for a, b in zip(wins[0], wins[1], strict=True)] == [1] * rounds
    assert set(stores[0].claims.of_card("c1").values()) == {"sending"}
    assert len(stores[1].claims.of_card("c1")) == rounds


# -- template cards -------------------------------------------------------------------------


def test_template_card_is_saved_and_replaced_per_board(store: Store) -> None:
    assert store.template_cards.get("b1") is None
    first = TemplateCard("b1", "v1", "card-1", {"Checklist": "cl1", "Post mortem": "cl2"})
    other = TemplateCard("b2", "v1", "card-9", {"Checklist": "cl9"})
    store.template_cards.save(first)
    store.template_cards.save(other)
    assert store.template_cards.get("b1") == first
    second = TemplateCard("b1", "v2", "card-2", {"Checklist": "cl3"})
    store.template_cards.save(second)
    assert store.template_cards.get("b1") == second
    assert store.template_cards.get("b2") == other


# -- the file -------------------------------------------------------------------------------


def test_everything_survives_closing_and_reopening(url: str, tmp_path: Path) -> None:
    store = Store.open(url)
    saved = full_incident()
    store.incidents.save(saved)
    store.cursors.set("b1", "a1", "2026-03-02T09:00:00.000Z")
    store.claims.claim("k1", "c1")
    store.claims.claim("k2", "c1")
    store.claims.mark_sent("k2", "comment-2")
    card = TemplateCard("b1", "v1", "card-1", {"Checklist": "cl1"})
    store.template_cards.save(card)
    store.close()

    assert (tmp_path / "w.sqlite3").is_file() == url.startswith("sqlite")
    again = Store.open(url)
    try:
        assert again.incidents.get("c1") == saved
        assert again.cursors.get("b1") == ("a1", "2026-03-02T09:00:00.000Z")
        assert again.claims.of_card("c1") == {"k1": "sending", "k2": "sent"}
        assert again.template_cards.get("b1") == card
    finally:
        again.close()


def test_open_makes_missing_parent_folders(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/deep/er/w.sqlite3")
    try:
        store.cursors.set("b1", "a1", "d1")
    finally:
        store.close()
    assert (tmp_path / "deep" / "er" / "w.sqlite3").is_file()


def _inside_a_file(tmp_path: Path) -> str:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file, not a directory\n")
    return f"sqlite:///{blocker}/w.sqlite3"


@pytest.mark.parametrize(
    "make_url",
    [
        pytest.param(_inside_a_file, id="path-inside-a-file"),
        pytest.param(lambda _tmp: "notadb://x", id="unknown-scheme"),
        pytest.param(lambda _tmp: "not a url at all", id="not-a-url"),
    ],
)
def test_an_unusable_url_is_a_config_error_naming_the_setting(
    tmp_path: Path, make_url: Callable[[Path], str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        Store.open(make_url(tmp_path))
    message = str(caught.value)
    assert "INCIDENT_DATABASE_URL" in message
    assert "\n" not in message


def test_a_url_whose_driver_is_missing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="INCIDENT_DATABASE_URL"):
        Store.open("postgresql://incident:pw@127.0.0.1:1/incidents")


def test_an_in_memory_database_works_or_is_refused() -> None:
    try:
        store = Store.open("sqlite:///:memory:")
    except ConfigError:
        return
    try:
        store.cursors.set("b1", "a1", "d1")
        assert store.cursors.get("b1") == ("a1", "d1")
    finally:
        store.close()


def test_the_database_file_is_its_owners_only(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/private.sqlite3")
    store.close()
    assert stat.S_IMODE(os.stat(tmp_path / "private.sqlite3").st_mode) == 0o600


def test_one_worker_per_file_and_the_second_is_told_who_has_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.sqlite3"
    first, second = Store.open(url), Store.open(url)
    try:
        first.lock()
        with pytest.raises(AlreadyRunning, match=rf"Another worker \(pid {os.getpid()} on "):
            second.lock()
        first.close()  # released: the next one may have it
        second.lock()
    finally:
        first.close()
        second.close()


def test_a_new_database_says_so_and_an_old_one_does_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.sqlite3"
    fresh = Store.open(url)
    assert fresh.created
    fresh.close()
    again = Store.open(url)
    assert not again.created
    again.close()


def test_the_outbox_queues_once_waits_twice_as_long_each_time_then_gives_up(tmp_path: Path) -> None:
    from worker.store.outbox import FIRST_WAIT, MAX_TRIES, Parcel

    now = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    store = Store.open(f"sqlite:///{tmp_path}/o.sqlite3", clock=lambda: now[0])
    try:
        parcel = Parcel("c1:told-1:0", "c1:told-1", "c1", "support", 0, "json", "T", "B")
        assert store.outbox.queue(parcel) and not store.outbox.queue(parcel)
        waits = []
        for _ in range(MAX_TRIES):
            (due,) = store.outbox.due()
            after = store.outbox.failed(due.key, "the channel did not take it")
            assert after is not None
            assert after.next_at is not None
            waits.append(after.next_at - now[0])
            now[0] = after.next_at
            if after.state == "failed":
                break
        assert waits[:3] == [FIRST_WAIT, FIRST_WAIT * 2, FIRST_WAIT * 4]
        assert (
            store.outbox.due() == [] and store.outbox.of_message("c1:told-1")[0].state == "failed"
        )
    finally:
        store.close()
