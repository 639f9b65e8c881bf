"""Three replicas on one PostgreSQL database share five boards; one is killed mid-incident.

Each scene runs the same script on five boards (an incident on each: declared, a communicator
named, a workaround, resolved) with three worker processes. In one scene nothing happens to
them; in the other the replica holding the most boards is SIGKILLed right after the
incidents are declared, and the rest of the script is played while its boards are orphaned.
Both must end with the same comments on every card, none twice, and the dead replica's boards
must be taken over within the bound: two poll intervals plus the lease time.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests import postgres
from tests.e2e.conftest import FAST
from tests.e2e.harness import Replica, Stage, stage
from tests.e2e.proxy import Relay
from worker.core.keys import MARKER
from worker.demo import wait_for
from worker.runtime.worker import READY
from worker.store.database import Store
from worker.store.tables import replicas as replica_rows

pytestmark = pytest.mark.e2e

BOARDS = 5
POLL = 1.0  # five boards read every second: half the token's budget (100 per 10 s)
LEASE = 3.0
SETTINGS = {
    **FAST,
    "INCIDENT_POLL_SECONDS": str(POLL),
    "INCIDENT_LEASE_SECONDS": str(LEASE),
    "INCIDENT_RECONCILE_SECONDS": "2",
}


@dataclass
class Played:
    comments: list[list[str]]  # per board, in board order: the worker's comment keys, in order
    held_before: dict[str, str]  # board -> replica name, once all three had their share
    moved_after: float | None  # seconds from the dead one's last heartbeat to its boards held
    held_after: dict[str, str]
    killed: str | None
    logs: dict[str, str]


def takeover_seconds(url: str, gone: str, boards: list[str]) -> float:
    """From the last heartbeat of the replica `gone` to the last of `boards` taken over, by
    the database's clock (what the bound is about, whatever the test's own delays)."""
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            seen = conn.execute(
                select(replica_rows.c.seen_at).where(replica_rows.c.replica_id == gone)
            ).scalar_one()
        taken = [lease.since for lease in store.replicas.leases() if lease.unit in boards]
    finally:
        store.close()
    assert len(taken) == len(boards)
    return (max(taken) - seen).total_seconds()


def database_now(url: str) -> datetime:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return conn.execute(select(func.now())).scalar_one()  # type: ignore[no-any-return]
    finally:
        store.close()


def holders(url: str) -> dict[str, str]:
    """Board -> the name of the replica holding it (leases not run out), from the database."""
    store = Store.open(url)
    try:
        return {lease.unit: lease.holder for lease in store.replicas.leases() if lease.live}
    finally:
        store.close()


def replica_of(holder: str, replicas: list[Replica]) -> str:
    (name,) = [r.name for r in replicas if f" pid {r.process.pid} " in holder]
    return name


def comment_keys(scene: Stage, card_id: str) -> list[str]:
    keys = []
    for text in scene.worker_comments(card_id):
        found = MARKER.search(text)
        assert found, text
        keys.append(re.sub(r"^reply-\w+$", "reply", found.group(1)))  # a reply names its action
    return keys


def play(tmp_path: Path, *, kill: bool) -> Played:
    with (
        postgres.database("postgresql", tmp_path) as url,
        stage(boards=BOARDS, settings={**SETTINGS, "INCIDENT_DATABASE_URL": url}) as scene,
    ):
        replicas = [scene.start_replica(name, wait=False) for name in ("r1", "r2", "r3")]
        for replica in replicas:
            wait_for(lambda r=replica: READY in r.log(), f"{replica.name} to start", 60)

        def shared_out() -> dict[str, str] | None:
            held = holders(url)
            owners = Counter(held.values())
            full = len(held) == BOARDS and sorted(owners.values()) == [1, 2, 2]
            return held if full else None

        held = wait_for(shared_out, "the boards shared out 2, 2, 1", 30)
        held_before = {board: replica_of(h, replicas) for board, h in held.items()}

        alice = scene.person("alice")
        cards = [
            alice.create_card(board, f"Outage {n}").id for n, board in enumerate(scene.board_ids)
        ]
        for card in cards:
            alice.label(card, "Incident")
        for card in cards:
            scene.wait_for_comment(card, "Incident declared")
        for card in cards:
            alice.comment(card, "/communicator @bob")
        for card in cards:
            scene.wait_for_comment(card, "Noted")

        killed, moved_after = None, None
        if kill:
            counts = Counter(held_before.values())
            killed = max(sorted(counts), key=lambda name: counts[name])
            victim = next(r for r in replicas if r.name == killed)
            orphans = [board for board, name in held_before.items() if name == killed]
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(10)

        for card in cards:  # played while the dead replica's boards wait for a new holder
            alice.label(card, "Workaround")

        if kill:

            def taken_over() -> bool:
                now = holders(url)
                return all(board in now and now[board] != held[board] for board in orphans)

            wait_for(taken_over, "the dead replica's boards taken over", 30)
            moved_after = takeover_seconds(url, held[orphans[0]], orphans)

        for card in cards:
            scene.wait_for_comment(card, "Workaround in place")
        for card in cards:
            alice.label(card, "Resolved")
        for card in cards:  # resolution ends with the post-mortem booking
            wait_for(lambda c=card: "postmortem" in comment_keys(scene, c), "the booking", 60)
        scene.wait_for_cycles(2)  # and nothing more comes
        held_after = {board: replica_of(h, replicas) for board, h in holders(url).items()}
        return Played(
            comments=[comment_keys(scene, card) for card in cards],
            held_before=held_before,
            moved_after=moved_after,
            held_after=held_after,
            killed=killed,
            logs={r.name: r.log() for r in replicas},
        )


def test_three_replicas_on_five_boards_one_killed_mid_incident(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The two scenes, in one test: each is played once, on one worker, whatever the order."""
    calm = play(tmp_path_factory.mktemp("calm"), kill=False)
    killed = play(tmp_path_factory.mktemp("killed"), kill=True)

    # each board held by one replica, each replica its share; nothing moves while all is well
    assert sorted(Counter(calm.held_before.values()).values()) == [1, 2, 2]
    assert calm.held_after == calm.held_before
    for name, log in calm.logs.items():  # each replica says what it took and gave up
        held: set[str] = set()
        for taken, given in re.findall(r"holding board '([^']+)'|board '([^']+)' given up", log):
            if taken:
                held.add(taken)
            else:
                held.discard(given)
        assert len(held) == Counter(calm.held_before.values())[name], log

    # the killed replica's boards moved within the bound, to the others
    assert killed.killed is not None and killed.moved_after is not None
    assert killed.killed not in killed.held_after.values()
    assert sorted(killed.held_after) == sorted(killed.held_before)
    assert killed.moved_after <= LEASE + 2 * POLL, f"took {killed.moved_after:.2f} s"

    # the same comments as without the kill, none twice
    assert killed.comments == calm.comments
    for keys in killed.comments:
        assert len(keys) == len(set(keys)), keys
        assert len(keys) >= 4  # declared, noted, workaround, resolved (and the booking)

    for played in (calm, killed):
        for name, log in played.logs.items():
            assert " ERROR " not in log and "Traceback" not in log, f"{name}:\n{log}"


# -- a replica cut off from the database --------------------------------------------------------


def feed_reads(log: str, board_id: str, after: int = 0) -> list[str]:
    """The times (as logged) of a replica's reads of a board's feed, from log offset `after`."""
    pattern = re.compile(rf"^(\S+ \S+) DEBUG\s+\S+: GET /1/boards/{board_id}/actions -> 200", re.M)
    return pattern.findall(log, after)


def test_a_replica_cut_off_from_the_database_hands_its_boards_over_and_comes_back(
    tmp_path: Path,
) -> None:
    with (
        postgres.database("postgresql", tmp_path) as url,
        stage(boards=BOARDS, settings={**SETTINGS, "INCIDENT_DATABASE_URL": url}) as scene,
    ):
        server = make_url(url)
        with Relay((server.host or "127.0.0.1", server.port or 5432)) as relay:
            through = server.set(host="127.0.0.1", port=relay.port)
            cut_off = scene.start_replica(
                "cut",
                wait=False,
                options=("--log-level", "DEBUG"),
                settings={"INCIDENT_DATABASE_URL": through.render_as_string(hide_password=False)},
            )
            others = [
                scene.start_replica(name, wait=False, options=("--log-level", "DEBUG"))
                for name in ("r2", "r3")
            ]
            replicas = [cut_off, *others]
            for replica in replicas:
                wait_for(lambda r=replica: READY in r.log(), f"{replica.name} to start", 60)

            def shared_out() -> dict[str, str] | None:
                held = holders(url)
                full = len(held) == BOARDS and len(set(held.values())) == len(replicas)
                return held if full else None

            wait_for(shared_out, "every replica holding boards", 60)
            scene.wait_for_cycles(3)  # settled: the template cards made, the boards read
            held = wait_for(shared_out, "every replica holding boards", 30)
            orphans = [b for b, h in held.items() if replica_of(h, replicas) == "cut"]
            wait_for(
                lambda: all(feed_reads(cut_off.log(), board) for board in orphans),
                "the replica to be cut off to read its boards",
            )
            marks = {r.name: len(r.log()) for r in others}
            relay.cut()

            def taken_over() -> dict[str, str] | None:
                now = holders(url)
                done = all(b in now and now[b] != held[b] for b in orphans)
                return now if done else None

            now = wait_for(taken_over, "the cut-off replica's boards taken over", 30)
            moved_after = takeover_seconds(url, held[orphans[0]], orphans)
            assert moved_after <= LEASE + 2 * POLL, f"took {moved_after:.2f} s"

            alice = scene.person("alice")  # an incident on a board that changed hands
            card = alice.create_card(orphans[0], "Declared while a replica is cut off")
            alice.label(card.id, "Incident")
            scene.wait_for_comment(card.id, "Incident declared")

            for board in orphans:  # the old holder's last read came before the new one's first
                new = next(r for r in others if f" pid {r.process.pid} " in now[board])
                first_new = wait_for(
                    lambda b=board, r=new: feed_reads(r.log(), b, marks[r.name]),
                    "the new holder to read the board",
                )[0]
                last_old = feed_reads(cut_off.log(), board)[-1]
                assert last_old < first_new, (board, last_old, first_new)

            relay.restore()
            wait_for(lambda: "the database answers again" in cut_off.log(), "reconnecting", 30)
            back = wait_for(shared_out, "the boards shared out again", 30)
            assert sorted(Counter(back.values()).values()) == [1, 2, 2]
            log = cut_off.log()
            assert log.count("cannot be reached") >= 1
            errors = [line for line in log.splitlines() if " ERROR " in line]
            assert len(errors) == 1 and "cannot be reached" in errors[0], errors
            assert "Traceback" not in log
            assert log.count("lost the lease on board") == len(orphans)
            assert cut_off.process.poll() is None  # it kept running throughout


# -- replicas started and stopped ---------------------------------------------------------------


def test_replicas_started_and_stopped_share_the_boards_out_again(tmp_path: Path) -> None:
    with (
        postgres.database("postgresql", tmp_path) as url,
        stage(boards=BOARDS, settings={**SETTINGS, "INCIDENT_DATABASE_URL": url}) as scene,
    ):
        replicas = [scene.start_replica(name) for name in ("r1", "r2")]

        def split(*sizes: int) -> Callable[[], dict[str, str] | None]:
            def check() -> dict[str, str] | None:
                held = holders(url)
                shares = sorted(Counter(held.values()).values())
                return held if len(held) == BOARDS and shares == sorted(sizes) else None

            return check

        wait_for(split(2, 3), "two replicas holding 3 and 2 boards", 60)
        replicas.append(scene.start_replica("r3"))
        held = wait_for(split(1, 2, 2), "a third replica given its share", 30)

        leaving = next(r for r in replicas if f" pid {r.process.pid} " in held[scene.board_ids[0]])
        leaving.process.send_signal(signal.SIGTERM)
        assert leaving.process.wait(60) == 0
        stopped_by = database_now(url)
        after = wait_for(split(2, 3), "the stopped replica's boards taken", 30)
        assert not any(f" pid {leaving.process.pid} " in h for h in after.values())
        assert "stopped" in leaving.log()
        # given up, not left to run out: taken before its lease could have run out (its last
        # heartbeat was at most a third of the lease before it stopped)
        store = Store.open(url)
        try:
            moved = [
                lease for lease in store.replicas.leases() if held[lease.unit] != after[lease.unit]
            ]
        finally:
            store.close()
        assert moved
        for lease in moved:
            assert (lease.since - stopped_by).total_seconds() < LEASE * 2 / 3, lease
