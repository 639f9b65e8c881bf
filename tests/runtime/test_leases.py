"""Replicas sharing boards: the pure plan from tables, then leases on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import postgres
from tests.conftest import FakeClock
from worker.errors import DatabaseUnavailable
from worker.runtime.leases import ALL_BOARDS, Leases, Plan, plan, preference, share, units_of
from worker.store.database import Replica, Store

# -- the plan (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "replicas", "each"),
    [(5, 3, 2), (5, 1, 5), (5, 5, 1), (5, 7, 1), (15, 3, 5), (16, 3, 6), (0, 2, 0), (3, 0, 3)],
)
def test_a_fair_share_is_the_units_over_the_replicas_rounded_up(
    units: int, replicas: int, each: int
) -> None:
    assert share(units, replicas) == each


BOARDS = ["b1", "b2", "b3", "b4", "b5"]


def mine_first(me: str, units: list[str]) -> list[str]:
    return sorted(units, key=lambda u: preference(me, u))


@pytest.mark.parametrize(
    ("holders", "live", "me", "expected"),
    [
        # alone: everything
        ({}, ["a"], "a", Plan(take=tuple(mine_first("a", BOARDS)), give=())),
        # my own heartbeat not seen yet: I count myself
        ({}, [], "a", Plan(take=tuple(mine_first("a", BOARDS)), give=())),
        # three replicas, nothing held: two each at most
        ({}, ["a", "b", "c"], "a", Plan(take=tuple(mine_first("a", BOARDS)[:2]), give=())),
        # a holds all five, b and c joined: a gives up three, in its own order
        (
            dict.fromkeys(BOARDS, "a"),
            ["a", "b", "c"],
            "a",
            Plan(take=(), give=tuple(mine_first("a", BOARDS)[2:])),
        ),
        # the newcomer takes only what is free
        (
            {"b1": "a", "b2": "a", "b3": "b", "b4": "b"},
            ["a", "b", "c"],
            "c",
            Plan(take=("b5",), give=()),
        ),
        # at its share already: nothing to do, though a unit is free
        ({"b1": "a", "b2": "a", "b3": "b"}, ["a", "b", "c"], "a", Plan(take=(), give=())),
        # c died (not live, its leases ran out): a and b share five, three at most each
        (
            {"b1": "a", "b2": "a", "b3": "b", "b4": "b"},
            ["a", "b"],
            "a",
            Plan(take=("b5",), give=()),
        ),
        # a lease still current keeps its unit, even if its holder is not seen any more
        ({"b1": "x", "b2": "x", "b3": "x", "b4": "x", "b5": "x"}, ["a"], "a", Plan((), ())),
        # a unit no longer watched is given up
        ({"b1": "a", "old": "a"}, ["a"], "a", Plan(take=("b2", "b3", "b4", "b5"), give=("old",))),
    ],
)
def test_plan(holders: dict[str, str], live: list[str], me: str, expected: Plan) -> None:
    got = plan(BOARDS, holders, live, me)
    assert set(got.take) == set(expected.take) and set(got.give) == set(expected.give)
    assert got == Plan(take=tuple(sorted(got.take, key=lambda u: preference(me, u))), give=got.give)


def test_replicas_starting_together_reach_for_different_boards_first() -> None:
    firsts = {plan(BOARDS, {}, ["r1", "r2", "r3"], me).take[0] for me in ("r1", "r2", "r3")}
    assert len(firsts) > 1


def test_with_an_incident_board_every_board_is_one_unit() -> None:
    assert units_of(["b1", "b2"], together=True) == {ALL_BOARDS: ("b1", "b2")}
    assert units_of(["b1", "b2"], together=False) == {"b1": ("b1",), "b2": ("b2",)}


# -- leases in a real database ---------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = 30.0


class Time:
    """One clock for the database and for every replica's own (monotonic) reckoning."""

    def __init__(self) -> None:
        self.mono = FakeClock()
        self.start = self.mono.now

    def db(self) -> datetime:
        return T0 + timedelta(seconds=self.mono.now - self.start)

    def pass_(self, seconds: float) -> None:
        self.mono.sleep(seconds)


@pytest.fixture(params=postgres.BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test runs on a SQLite file and on a fresh PostgreSQL database."""
    with postgres.database(request.param, tmp_path) as database:
        yield database


ReplicaFactory = Callable[..., Leases]


@pytest.fixture
def time_() -> Time:
    return Time()


@pytest.fixture
def replica(url: str, time_: Time) -> Iterator[ReplicaFactory]:
    """`replica(name)`: a replica's leases, on its own connection to the shared database."""
    stores: list[Store] = []

    def make(name: str, units: list[str] = BOARDS) -> Leases:
        store = Store.open(url, replica=Replica.new(LEASE, name), clock=time_.db)
        stores.append(store)
        return Leases(store, units_of(units, together=False), monotonic=time_.mono)

    yield make
    for store in stores:
        store.close()


def holders(leases: Leases) -> dict[str, str]:
    return {lease.unit: lease.holder_name for lease in leases.store.replicas.leases() if lease.live}


def test_three_replicas_each_hold_their_share_and_no_board_twice(replica: ReplicaFactory) -> None:
    shared = [replica(name) for name in ("a", "b", "c")]
    for leases in shared:
        leases.heartbeat()  # all three alive before the first shares are taken
    for leases in shared:
        leases.rebalance()
    held = [set(leases.boards()) for leases in shared]
    assert sorted(len(boards) for boards in held) == [1, 2, 2]
    assert set().union(*held) == set(BOARDS)
    assert sum(len(boards) for boards in held) == len(BOARDS)
    by_name = {name: set(leases.boards()) for name, leases in zip("abc", shared, strict=True)}
    assert holders(shared[0]) == {b: name for name, boards in by_name.items() for b in boards}


def test_a_replica_that_stops_heartbeating_loses_its_boards_after_the_lease(
    replica: ReplicaFactory, time_: Time
) -> None:
    a, b, c = (replica(name) for name in ("a", "b", "c"))
    for leases in (a, b, c):
        leases.heartbeat()
    for leases in (a, b, c):
        leases.rebalance()
    dead = set(c.boards())
    assert dead
    time_.pass_(LEASE / 3)
    for leases in (a, b):
        leases.heartbeat()
    assert not (set(a.boards()) | set(b.boards())) & dead  # c's leases still run
    time_.pass_(LEASE)  # c said nothing all this time
    assert c.boards() == []  # by its own clock too: it must not work on them any more
    for leases in (a, b):
        leases.rebalance()
    assert set(a.boards()) | set(b.boards()) == set(BOARDS)
    assert not set(a.boards()) & set(b.boards())


def test_a_replica_joining_gets_its_share_from_the_others(
    replica: ReplicaFactory, time_: Time
) -> None:
    a = replica("a")
    a.rebalance()
    assert sorted(a.boards()) == BOARDS
    b = replica("b")
    b.rebalance()  # a holds everything still: b can take nothing yet
    assert b.boards() == []
    taken, given = a.rebalance()  # a sees b, gives up all but its share
    assert taken == [] and len(given) == 2
    b.rebalance()
    assert sorted(a.boards() + b.boards()) == BOARDS
    assert len(b.boards()) == 2


def test_a_replica_leaving_hands_its_boards_over_at_once(
    replica: ReplicaFactory, time_: Time
) -> None:
    a, b = replica("a"), replica("b")
    a.heartbeat()
    b.heartbeat()
    a.rebalance()
    b.rebalance()
    b.leave()
    assert b.boards() == []
    a.rebalance()  # no waiting for b's leases to run out
    assert sorted(a.boards()) == BOARDS


def test_a_lease_taken_over_while_its_holder_was_away_is_not_extended(
    replica: ReplicaFactory, time_: Time, caplog: pytest.LogCaptureFixture
) -> None:
    a = replica("a")
    a.rebalance()
    time_.pass_(LEASE + 1)  # a paused longer than its lease
    b = replica("b")
    b.rebalance()
    assert sorted(b.boards()) == BOARDS
    caplog.set_level(logging.WARNING)
    a.heartbeat()
    assert a.boards() == []
    assert sorted(b.boards()) == BOARDS
    assert sum("lost the lease" in r.getMessage() for r in caplog.records) == len(BOARDS)


def test_a_replica_cut_off_from_the_database_stops_working_when_its_lease_ends(
    replica: ReplicaFactory, time_: Time, caplog: pytest.LogCaptureFixture
) -> None:
    a = replica("a")
    a.rebalance()
    assert a.holds("b1")

    def cut_off(*_: object) -> frozenset[str]:
        raise DatabaseUnavailable("The database (INCIDENT_DATABASE_URL, x) cannot be reached: y")

    a.store.replicas.heartbeat = cut_off  # type: ignore[method-assign]
    caplog.set_level(logging.INFO)
    for _ in range(3):
        time_.pass_(LEASE / 3 - 1)
        a.heartbeat()
    assert a.holds("b1")  # 3 x 9 s < 30 s: still its own
    time_.pass_(3)
    a.heartbeat()
    assert not a.holds("b1") and a.boards() == []
    assert sum("cannot be reached" in r.getMessage() for r in caplog.records) == 1
    assert a.rebalance() == ([], [])  # nothing is taken while cut off


def test_boards_already_set_up_are_the_last_given_up() -> None:
    settled = {"b4", "b5"}
    got = plan(BOARDS, dict.fromkeys(BOARDS, "a"), ["a", "b", "c"], "a", settled)
    assert set(got.give) == {"b1", "b2", "b3"} and got.take == ()
    one = plan(BOARDS, dict.fromkeys(BOARDS, "a"), ["a", "b", "c", "d", "e"], "a", settled)
    assert len(one.give) == 4 and len(set(one.give) & settled) == 1


def test_the_heartbeat_takes_a_dead_replicas_boards_without_waiting_for_a_cycle(
    replica: ReplicaFactory, time_: Time
) -> None:
    a, b = replica("a"), replica("b")
    for leases in (a, b):
        leases.heartbeat()
    for leases in (a, b):
        leases.rebalance()
    dead = set(b.boards())
    time_.pass_(LEASE + 1)  # b is gone
    a.heartbeat(take=True)
    assert sorted(a.boards()) == BOARDS
    taken, given = a.rebalance()  # the next cycle learns what the heartbeat took
    assert set(taken) == dead and given == []
    assert a.rebalance() == ([], [])  # and only once


def test_a_plain_heartbeat_takes_nothing(replica: ReplicaFactory) -> None:
    a = replica("a")
    a.heartbeat()
    assert a.boards() == []
