"""The incident worker's benchmark: API cost, reaction time, a burst, memory.

Every number comes from a real run: the sandbox served over HTTP with 100 ms added to every
request, the real `python -m worker` process, and people acting through py-trello. Requests are
counted from the sandbox's request log (the worker is the member `incident-worker`).

    python benchmarks/run.py            # all nine measurements
    python benchmarks/run.py --only 7   # one of them (1-9)

The sixth and the eighth run three worker processes on a PostgreSQL database
(`POSTGRES_TEST_URL`, as for the tests); without a server they are reported as not measured.

It prints one table (measure | ours | target | met?) and writes it, with the machine and the
raw samples, to `benchmarks/results/benchmark.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a clone, installed or not

from trello import TrelloClient  # noqa: E402

from tests.e2e.harness import Stage, stage  # noqa: E402
from worker.demo import Person, wait_for  # noqa: E402
from worker.sandbox import LoggedRequest  # noqa: E402
from worker.store.database import Store  # noqa: E402
from worker.template import Stage as ChecklistStage  # noqa: E402
from worker.template import load_template  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "benchmark.json"
TEMPLATE = ROOT / "config" / "incident-template.md"

#: Seconds added to every request by the sandbox (Trello's own latency is of this order).
LATENCY = 0.1
WORKER = "incident-worker"
DECLARED = "Incident declared"
#: How the worker's template cards are named (then the template's version).
TEMPLATE_CARD = "Incident template v"
PEOPLE = ("alice", "bob", "carol", "dave")
#: Nothing but declaring happens during a measurement: no reminders, no reconcile pass.
QUIET = {
    "INCIDENT_REMINDER_SECONDS": "3600",
    "INCIDENT_ROLE_REMINDER_SECONDS": "3600",
    "INCIDENT_STATUS_UPDATE_SECONDS": "3600",
    "INCIDENT_RECONCILE_SECONDS": "3600",
    "INCIDENT_POLL_SECONDS": "0.5",
}
IDLE_CYCLES = 10
REACTION_SAMPLES = 20
POLL_SECONDS = 5.0
BURST = 50
ID = re.compile(r"[0-9a-f]{24}")


@dataclass
class Row:
    """One line of the table."""

    number: int
    measure: str
    ours: float
    target: str
    met: bool
    unit: str = ""
    why_missed: str = ""

    def shown(self) -> str:
        return f"{self.ours:g} {self.unit}".strip()


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


# -- the request log --------------------------------------------------------------------------


def by_worker(entry: LoggedRequest) -> bool:
    """A request of the worker's, or a route of one of its batches."""
    return entry.member_username == WORKER


def is_request(entry: LoggedRequest) -> bool:
    """A request of the worker's (a batch counts once; its routes are not requests)."""
    return by_worker(entry) and not entry.batched


def is_feed_read(entry: LoggedRequest) -> bool:
    return (
        by_worker(entry)
        and entry.method == "GET"
        and entry.path.startswith("/1/boards/")
        and entry.path.endswith("/actions")
    )


def is_card_listing(entry: LoggedRequest) -> bool:
    """The request that starts a reconcile pass: a board's open cards."""
    return (
        by_worker(entry)
        and entry.method == "GET"
        and re.fullmatch(r"/1/boards/[0-9a-f]{24}/cards", entry.path) is not None
    )


def kinds(entries: Sequence[LoggedRequest]) -> str:
    """What the requests were, e.g. `GET /1/cards/{id} x1, POST /1/checklists x1`."""
    counted = Counter(f"{e.method} {ID.sub('{id}', e.path)}" for e in entries)
    return ", ".join(f"{what} x{n}" for what, n in counted.items())


def most_in_window(times: Sequence[datetime], window: float) -> int:
    """The most of `times` that fall in any `window` seconds (a sliding window)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, when in enumerate(ordered):
        while (when - ordered[first]).total_seconds() >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- acting on the board ----------------------------------------------------------------------


@contextmanager
def slow_stage(*, boards: int = 1, settings: dict[str, str] | None = None) -> Iterator[Stage]:
    """A stage whose sandbox adds `LATENCY` to every request, with `QUIET` cadences."""
    with stage(boards=boards, settings={**QUIET, **(settings or {})}) as scene:
        scene.sandbox.faults.configure(latency=(LATENCY, LATENCY))
        yield scene


def label_id(scene: Stage, board_id: str, name: str = "Incident") -> str:
    state = scene.sandbox.state
    with state.lock:
        (found,) = [label.id for label in state.board_labels(board_id) if label.name == name]
    return found


def add_label(person: Person, card_id: str, label: str) -> None:
    """What py-trello's `Card.add_label` sends: one request."""
    person.client.fetch_json(
        f"/cards/{card_id}/idLabels", http_method="POST", post_args={"value": label}
    )


def make_cards(scene: Stage, count: int, board_id: str, prefix: str) -> list[str]:
    """`count` fresh cards made by people (spread over four people, four threads)."""
    made: list[str] = []
    lock = threading.Lock()

    def work(name: str, titles: list[str]) -> None:
        person = Person(scene.sandbox, scene.server.url, name)
        try:
            board = person.client.get_board(board_id)
            (doing,) = [item for item in board.list_lists() if item.name == "Doing"]
            for title in titles:
                card = doing.add_card(title)
                with lock:
                    made.append(card.id)
        finally:
            person.close()

    titles = [f"{prefix} {n}" for n in range(count)]
    in_parallel(work, [(name, titles[i :: len(PEOPLE)]) for i, name in enumerate(PEOPLE)])
    return made


def label_cards(scene: Stage, card_ids: Sequence[str], board_id: str, threads: int) -> None:
    """People put the Incident label on every card, from `threads` threads at once."""
    label = label_id(scene, board_id)

    def work(name: str, cards: list[str]) -> None:
        person = Person(scene.sandbox, scene.server.url, name)
        try:
            for card_id in cards:
                add_label(person, card_id, label)
        finally:
            person.close()

    jobs = [(PEOPLE[i % len(PEOPLE)], list(card_ids[i::threads])) for i in range(threads)]
    in_parallel(work, jobs)


def in_parallel(work: Callable[[str, list[str]], None], jobs: list[tuple[str, list[str]]]) -> None:
    errors: list[BaseException] = []

    def run(name: str, items: list[str]) -> None:
        try:
            work(name, items)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]


def declared(scene: Stage, card_id: str) -> bool:
    """The declared comment and the checklists are on the card (read from the sandbox state)."""
    if not any(DECLARED in text for text in scene.worker_comments(card_id)):
        return False
    return bool(scene.card(card_id).get("checklists"))


def wait_declared(scene: Stage, card_ids: Sequence[str], timeout: float) -> dict[str, float]:
    """Wait until every card is declared; card id -> the monotonic time it was seen so."""
    seen: dict[str, float] = {}

    def done() -> bool:
        for card_id in card_ids:
            if card_id not in seen and declared(scene, card_id):
                seen[card_id] = time.monotonic()
        return len(seen) == len(card_ids)

    wait_for(done, f"{len(card_ids)} declarations", timeout)
    return seen


# -- 1. requests to declare one incident ------------------------------------------------------


def measure_declaration(report: Report) -> None:
    template = load_template(TEMPLATE)
    checklists = template.for_stage(ChecklistStage.DECLARED)
    with slow_stage() as scene:
        board = scene.board_ids[0]
        first = scene.run("run", "--once")  # makes the template card
        assert first.returncode == 0, first.stdout + first.stderr
        alice = scene.person("alice")
        card = alice.create_card(board, "Checkout is down")
        add_label(alice, card.id, label_id(scene, board))
        second = scene.run("run", "--once")
        assert second.returncode == 0, second.stdout + second.stderr
        assert declared(scene, card.id), "run --once did not declare the incident"
        log = scene.sandbox.request_log
        comment = next(
            i
            for i, e in enumerate(log)
            if is_request(e)
            and e.method == "POST"
            and e.path == f"/1/cards/{card.id}/actions/comments"
        )
        feed = max(i for i, e in enumerate(log[:comment]) if is_feed_read(e))
        ours = [e for e in log[feed + 1 : comment + 1] if is_request(e)]

        # the naive path: py-trello's own calls, over our session, on a fresh card
        dave = scene.person("dave")
        naive_card = dave.create_card(board, "Checkout is down (naive)")
        client = TrelloClient(scene.sandbox.api_key, api_secret="-", http_service=dave.session)
        card_object = client.get_card(naive_card.id)
        before = len(scene.sandbox.request_log)
        for checklist in checklists:
            card_object.add_checklist(checklist.name, [item.name for item in checklist.items])
        card_object.set_description("**Incident status** ...")
        card_object.comment("Incident declared ...")
        naive = [e for e in scene.sandbox.request_log[before:] if e.member_username == "dave"]

    n = len(checklists)
    target = 2 + n
    report.rows.append(
        Row(
            1,
            "requests to declare one incident",
            len(ours),
            f"<= {target} (2 + {n} checklist)",
            len(ours) <= target,
            why_missed=(
                f"the worker reads the card once before writing, to keep people's description "
                f"and see what is there: 3 + {n} = {len(ours)} ({kinds(ours)})"
            ),
        )
    )
    report.rows.append(
        Row(
            1,
            "  baseline: naive py-trello",
            len(naive),
            "(for comparison)",
            True,
        )
    )
    report.details["declaration"] = {
        "declared_phase_checklists": [c.name for c in checklists],
        "items": sum(len(c.items) for c in checklists),
        "worker_requests": [f"{e.method} {ID.sub('{id}', e.path)}" for e in ours],
        "naive_requests": kinds(naive),
    }


# -- 2. idle cost, reconcile cost and 5. memory ------------------------------------------------


def idle_requests(scene: Stage, cycles: int) -> tuple[float, list[LoggedRequest]]:
    """Worker requests per board per cycle over `cycles` cycles, and the requests themselves.

    Counted from just after one feed read up to and including the feed read `cycles` later
    (for each board), so each cycle is counted once, whole.
    """
    boards = len(scene.board_ids)
    start_log = len(scene.sandbox.request_log)
    wait_for(lambda: any(is_feed_read(e) for e in scene.sandbox.request_log[start_log:]), "a read")
    log = scene.sandbox.request_log
    first = max(i for i, e in enumerate(log) if is_feed_read(e))
    reads_before = sum(1 for e in log[: first + 1] if is_feed_read(e))
    wanted = reads_before + cycles * boards
    wait_for(lambda: scene.feed_reads() >= wanted, f"{cycles} cycles", timeout=60)
    log = scene.sandbox.request_log
    seen, last = reads_before, first
    for i in range(first + 1, len(log)):
        if is_feed_read(log[i]):
            seen += 1
            if seen == wanted:
                last = i
                break
    counted = [e for e in log[first + 1 : last + 1] if is_request(e)]
    return len(counted) / (cycles * boards), counted


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_memory(report: Report, scene: Stage, resolve: str) -> None:
    """VmHWM with the open incidents declared and a few cycles run; then again once one
    incident is resolved (its post-mortem draft and picture attached)."""
    assert scene.process is not None
    scene.wait_for_cycles(3)
    declared_peak = vm_hwm_mb(scene.process.pid)
    add_label(scene.person("carol"), resolve, label_id(scene, scene.board_ids[0], "Resolved"))
    wait_for(lambda: len(scene.attachments(resolve)) == 2, "the post-mortem draft", 60)
    scene.wait_for_cycles(2)
    resolved_peak = vm_hwm_mb(scene.process.pid)
    report.rows += [
        Row(
            5,
            "worker peak RSS, 50 open incidents",
            round(declared_peak, 1),
            "< 100 MB",
            declared_peak < 100,
            "MB",
            why_missed="VmHWM of the worker process is above 100 MB",
        ),
        Row(
            5,
            "worker peak RSS, after 1 resolved",
            round(resolved_peak, 1),
            "< 100 MB",
            resolved_peak < 100,
            "MB",
            why_missed=(
                f"+{resolved_peak - declared_peak:.0f} MB when the first post-mortem picture is "
                "drawn: matplotlib, imported then, stays loaded"
            ),
        ),
    ]
    report.details["memory_mb"] = {"declared": declared_peak, "after_resolution": resolved_peak}


def reconcile_pass_cost(scene: Stage, passes: int = 2) -> tuple[float, list[LoggedRequest]]:
    """Restart the worker reconciling every 2 s; requests per pass (after the one at start).
    The worker is started again as it was before, after."""
    scene.stop_worker()
    before = scene.env.get("INCIDENT_RECONCILE_SECONDS")
    scene.env["INCIDENT_RECONCILE_SECONDS"] = "2"
    mark = len(scene.sandbox.request_log)
    scene.start_worker()

    def listings() -> list[int]:
        log = scene.sandbox.request_log
        return [i for i in range(mark, len(log)) if is_card_listing(log[i])]

    wait_for(lambda: len(listings()) >= passes + 2, f"{passes + 2} reconcile passes", 60)
    scene.stop_worker()
    log, starts = scene.sandbox.request_log, listings()
    if before is None:
        del scene.env["INCIDENT_RECONCILE_SECONDS"]
    else:
        scene.env["INCIDENT_RECONCILE_SECONDS"] = before
    scene.start_worker()
    counted: list[LoggedRequest] = []
    for start in starts[1 : passes + 1]:  # the first is the pass at start
        end = next(i for i in range(start + 1, len(log)) if is_feed_read(log[i]))
        counted += [e for e in log[start:end] if is_request(e)]
    return len(counted) / passes, counted


def measure_idle_and_memory(report: Report, *, idle: bool, memory: bool) -> None:
    cost: dict[int, float] = {}
    cpu: dict[int, float] = {}
    extra: dict[int, str] = {}
    with slow_stage() as scene:
        board = scene.board_ids[0]
        scene.start_worker()
        steps = (0, 10, 50) if idle else (50,)
        made: list[str] = []
        for count in steps:
            new = make_cards(scene, count - len(made), board, "Outage")
            label_cards(scene, new, board, threads=4)
            made += new
            wait_declared(scene, made, timeout=120)
            scene.wait_for_cycles(2)
            if idle:
                assert scene.process is not None
                cpu_before = cpu_seconds(scene.process.pid)
                cost[count], counted = idle_requests(scene, IDLE_CYCLES)
                cpu[count] = (cpu_seconds(scene.process.pid) - cpu_before) / IDLE_CYCLES
                extra[count] = kinds([e for e in counted if not is_feed_read(e)])
        if idle:  # before (5) resolves one: its follow-up card is made at the next pass
            per_pass, reconciling = reconcile_pass_cost(scene)
        if memory:
            measure_memory(report, scene, made[0])
    if not idle:
        return
    with slow_stage(boards=5) as scene:
        scene.start_worker()
        scene.wait_for_cycles(2)
        cost_5_boards, counted = idle_requests(scene, IDLE_CYCLES)
        extra_5 = kinds([e for e in counted if not is_feed_read(e)])
    for count in (0, 10, 50):
        report.rows.append(
            Row(
                2,
                f"idle requests/board/cycle, {count} incidents",
                round(cost[count], 2),
                "1",
                cost[count] <= 1.0,
                why_missed=f"besides the feed read: {extra[count]}",
            )
        )
    report.rows.append(
        Row(
            2,
            "idle requests/board/cycle, 5 boards",
            round(cost_5_boards, 2),
            "1",
            cost_5_boards <= 1.0,
            why_missed=f"besides the feed reads: {extra_5}",
        )
    )
    for count in (0, 50):
        report.rows.append(
            Row(
                2,
                f"  worker CPU per idle cycle, {count} incidents",
                round(cpu[count] * 1000, 1),
                "(no target)",
                True,
                "ms",
            )
        )
    report.rows.append(
        Row(
            2,
            "  requests per reconcile pass, 50 incidents",
            per_pass,
            "(every 300 s)",
            True,
        )
    )
    report.details["idle"] = {
        "cycles": IDLE_CYCLES,
        "per_board_per_cycle": {str(k): v for k, v in cost.items()},
        "five_boards": cost_5_boards,
        "worker_cpu_ms_per_idle_cycle": {str(k): v * 1000 for k, v in cpu.items()},
        "reconcile_pass_requests": per_pass,
        "reconcile_pass_kinds": kinds(reconciling),
    }


# -- 3. reaction time -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reaction_times(
    scene: Stage, spread: float, samples: int, boards: Sequence[str] | None = None
) -> list[float]:
    """Seconds from the label request's start to the declared comment (and checklists) being
    in the sandbox's state, polled every 10 ms; one declaration at a time, each on a fresh card
    made beforehand, after a random pause of 0..`spread` s (so labels fall anywhere in a cycle).
    The cards are on `boards` in turn (by default the first board).
    """
    boards = boards or scene.board_ids[:1]
    per_board = {
        board: make_cards(scene, len(range(i, samples, len(boards))), board, "Reaction")
        for i, board in enumerate(boards)
    }
    cards = [
        (boards[n % len(boards)], per_board[boards[n % len(boards)]].pop()) for n in range(samples)
    ]
    labels = {board: label_id(scene, board) for board in boards}
    alice = scene.person("alice")
    pause = random.Random(7)
    took: list[float] = []
    for board, card_id in cards:
        time.sleep(pause.uniform(0, spread))
        start = time.monotonic()
        add_label(alice, card_id, labels[board])
        deadline = start + 60
        while not declared(scene, card_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"card {card_id} not declared within 60 s")
            time.sleep(0.01)
        took.append(time.monotonic() - start)
    return took


def measure_reaction(report: Report) -> None:
    with slow_stage(settings={"INCIDENT_POLL_SECONDS": str(POLL_SECONDS)}) as scene:
        scene.start_worker()
        polling = reaction_times(scene, POLL_SECONDS, REACTION_SAMPLES)
    port = free_port()
    hook = {
        "INCIDENT_WEBHOOK": "true",
        "INCIDENT_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "INCIDENT_WEBHOOK_CALLBACK_URL": f"http://127.0.0.1:{port}/trello/hook",
        "INCIDENT_POLL_SECONDS": "1",  # the reminder job; the feed is read every 120 s
    }
    with slow_stage(settings=hook) as scene:
        scene.start_worker()
        registered = scene.run("webhook", "register")
        assert registered.returncode == 0, registered.stdout + registered.stderr
        webhooks = reaction_times(scene, 0.5, REACTION_SAMPLES)
    for name, times, limit in (
        ("polling (5 s)", polling, POLL_SECONDS + 1),
        ("webhooks", webhooks, 1.0),
    ):
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        report.rows.append(
            Row(3, f"reaction p50, {name}", round(p50, 2), "", True, "s"),
        )
        report.rows.append(
            Row(
                3,
                f"reaction p95, {name}",
                round(p95, 2),
                f"<= {limit:g} s",
                p95 <= limit,
                "s",
                why_missed=f"slowest {max(times):.2f} s; see details.reaction",
            )
        )
    report.details["reaction"] = {"polling_s": polling, "webhooks_s": webhooks}


# -- 4. a burst under Trello's rate limits ----------------------------------------------------


def measure_burst(report: Report) -> None:
    with slow_stage() as scene:
        board = scene.board_ids[0]
        cards = make_cards(scene, BURST, board, "Burst")
        scene.start_worker()
        scene.sandbox.set_rate_limit(100, 300, 10.0)  # Trello's; a fresh window
        mark = len(scene.sandbox.request_log)
        start = time.monotonic()
        label_cards(scene, cards, board, threads=10)
        labelled = time.monotonic() - start
        finished = sorted(when - start for when in wait_declared(scene, cards, 180).values())
        log = scene.sandbox.request_log[mark:]
    done = finished[-1]
    ours = [e for e in log if is_request(e)]
    times = sorted(e.time for e in ours)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    pace = statistics.median(gaps)  # several in flight: shorter than one round trip
    refused = sum(1 for e in ours if e.status == 429)
    busiest = most_in_window([e.time for e in ours], 10.0)
    allowed = 1.2 * len(ours) / 10
    report.rows += [
        Row(
            4,
            "burst: most worker requests in 10 s",
            busiest,
            "<= 100",
            busiest <= 100,
            why_missed="the client-side limiter let more than 100 through in some 10 s",
        ),
        Row(
            4,
            "burst: 429s to the worker",
            refused,
            "0",
            refused == 0,
            why_missed=f"{refused} requests refused by the sandbox's rate limit",
        ),
        Row(
            4,
            f"burst: all {BURST} set up",
            round(done, 1),
            f"<= {allowed:.1f} s (1.2 x {len(ours)} req / 10 per s)",
            done <= allowed,
            "s",
            why_missed=(
                f"a request every {pace * 1000:.0f} ms (median): the pace is latency, "
                "not the rate limit"
            ),
        ),
        Row(
            4,
            "  burst: median gap between worker requests (several in flight)",
            round(pace * 1000),
            "(at most 100 per 10 s)",
            True,
            "ms/request",
        ),
    ]
    report.details["burst"] = {
        "labels_sent_within_s": labelled,
        "worker_requests": len(ours),
        "worker_429s": refused,
        "most_in_10s": busiest,
        "setup_s": done,
        "first_set_up_s": finished[0],
        "median_set_up_s": statistics.median(finished),
        "median_gap_between_worker_requests_s": pace,
        "people_429s": sum(1 for e in log if not by_worker(e) and e.status == 429),
    }


# -- 7. many boards ------------------------------------------------------------------------------

SCALE_BOARDS = (60, 200)
SCALE_CYCLES = 3
#: Labels timed, one at a time, each on another board.
SCALE_REACTIONS = 10


def template_cards_made(scene: Stage) -> int:
    """How many boards have their (archived) template card by now."""
    state = scene.sandbox.state
    with state.lock:
        return sum(
            1
            for board in scene.board_ids
            if any(c.closed and c.name.startswith(TEMPLATE_CARD) for c in state.board_cards(board))
        )


def every_template_card(scene: Stage) -> bool:
    return template_cards_made(scene) == len(scene.board_ids)


def setup_requests(log: Sequence[LoggedRequest], boards: int) -> tuple[int, float]:
    """The worker's requests in `log`, and per board beyond the first template card (the items
    and checklists of the one card built whole are left out)."""
    ours = [e for e in log if is_request(e)]
    built = sum(
        1
        for e in ours
        if e.method == "POST" and (e.path.endswith("/checkItems") or e.path.endswith("/checklists"))
    )
    return len(ours), (len(ours) - built) / boards


def template_card_writes(scene: Stage, log: Sequence[LoggedRequest]) -> int:
    """The worker's writes in `log` that made or changed a template card (its creation, then
    its archiving or claim; the first card's checklists and items are not on its own path)."""
    state = scene.sandbox.state
    with state.lock:
        ids = {
            c.id
            for board in scene.board_ids
            for c in state.board_cards(board)
            if c.closed and c.name.startswith(TEMPLATE_CARD)
        }
    return sum(
        1
        for e in log
        if is_request(e)
        and e.method != "GET"
        and (e.path == "/1/cards" or e.path.removeprefix("/1/cards/") in ids)
    )


def measure_scale(report: Report) -> None:
    """A cold start on many new boards, a label waiting on the last; then idle cycles."""
    for boards in SCALE_BOARDS:
        with slow_stage(
            boards=boards, settings={"INCIDENT_POLL_SECONDS": str(POLL_SECONDS)}
        ) as scene:
            last = scene.board_ids[-1]
            (card,) = make_cards(scene, 1, last, "Cold")
            add_label(scene.person("alice"), card, label_id(scene, last))
            mark = len(scene.sandbox.request_log)
            start = time.monotonic()
            scene.start_worker(wait=False)
            wait_for(lambda c=card: declared(scene, c), "the label on the last board", 900)
            took = time.monotonic() - start
            wait_for(
                lambda: (
                    {e.path.split("/")[3] for e in scene.sandbox.request_log if is_feed_read(e)}
                    >= set(scene.board_ids)
                ),
                "every board's feed read",
                300,
            )
            watched, beyond = setup_requests(scene.sandbox.request_log[mark:], boards)
            wait_for(partial(every_template_card, scene), "every template card", 900)
            carded_after = time.monotonic() - start
            log = scene.sandbox.request_log[mark:]
            carded, _ = setup_requests(log, boards)
            card_writes = template_card_writes(scene, log) / boards
            refused = sum(1 for e in log if by_worker(e) and e.status == 429)
            busiest = most_in_window([e.time for e in log if is_request(e)], 10.0)
            scene.wait_for_cycles(1, timeout=120)
            per_board, counted = idle_requests(scene, SCALE_CYCLES)
            routes = sum(1 for e in scene.sandbox.request_log[mark:] if by_worker(e) and e.batched)
            assert scene.process is not None
            peak = vm_hwm_mb(scene.process.pid)
            spread = random.Random(boards).sample(scene.board_ids, SCALE_REACTIONS)
            reaction = reaction_times(scene, POLL_SECONDS, SCALE_REACTIONS, spread)
        report.rows += [
            Row(
                7,
                f"idle requests per cycle, {boards} boards (batched)",
                round(per_board * boards, 2),
                f"<= {boards / 10:g}",
                per_board * boards <= boards / 10 + 0.01,
                why_missed=f"besides the batched feed reads: {kinds(counted)}",
            ),
            Row(
                7,
                f"cold start, {boards} new boards: requests per board until every board is "
                "watched, beyond the first card",
                round(beyond, 2),
                "<= 2",
                beyond <= 2,
            ),
            Row(
                7,
                f"cold start, {boards} new boards: a label on the last declared",
                round(took, 1),
                "<= 30 s",
                took <= 30,
                "s",
            ),
            Row(
                7,
                f"  cold start, {boards} new boards: writes per board for its template card",
                round(card_writes, 2),
                "<= 2 (a copy, its archiving)",
                card_writes <= 2,
                why_missed=kinds([e for e in log if is_request(e) and e.method != "GET"]),
            ),
            Row(
                7,
                f"  cold start, {boards} boards: every template card made after",
                round(carded_after, 1),
                "",
                True,
                "s",
            ),
            Row(7, f"  cold start, {boards} boards: 429s", refused, "0", refused == 0),
            Row(
                7,
                f"  cold start, {boards} boards: most requests in any 10 s",
                busiest,
                "<= 100",
                busiest <= 100,
            ),
            Row(
                7,
                f"reaction p95, polling every 5 s, {boards} boards",
                round(percentile(reaction, 0.95), 2),
                "<= 6 s",
                percentile(reaction, 0.95) <= 6,
                "s",
                why_missed="a cycle reads the feeds a batch at a time, one batch after another",
            ),
            Row(
                7,
                f"  peak resident memory, {boards} boards, 1 incident",
                round(peak, 1),
                "< 120 MB",
                peak < 120,
                "MB",
            ),
        ]
        report.details[f"scale_{boards}"] = {
            "requests_until_watched": watched,
            "requests_until_every_template_card": carded,
            "cold_kinds": kinds([e for e in log if is_request(e)]),
            "declared_after_s": took,
            "template_cards_after_s": carded_after,
            "idle_requests_per_board_per_cycle": per_board,
            "batched_routes_since_start": routes,
            "peak_rss_mb": peak,
            "reaction_s": reaction,
        }


# -- 8. replicas starting together on new boards -------------------------------------------------

COLD_REPLICA_BOARDS = 60


def measure_replicas_starting(report: Report) -> None:
    """Three worker processes started at the same moment on one PostgreSQL database and 60
    new boards: whether any request of theirs goes over Trello's limit before they have seen
    each other."""
    if postgres_missing(report, 8, "replicas starting"):
        return
    boards = COLD_REPLICA_BOARDS
    with replica_stage(boards) as scene:
        mark = len(scene.sandbox.request_log)
        start = time.monotonic()
        replicas = [scene.start_replica(f"r{n}", wait=False) for n in range(1, REPLICAS + 1)]
        wait_for(partial(every_template_card, scene), "every template card", 900)
        took = time.monotonic() - start
        for replica in replicas:
            wait_for(lambda r=replica: "ready: watching" in r.log(), f"{replica.name}", 120)
        log = scene.sandbox.request_log[mark:]
    ours = [e for e in log if is_request(e)]
    refused = sum(1 for e in ours if e.status == 429)
    busiest = most_in_window([e.time for e in ours], 10.0)
    report.rows += [
        Row(
            8,
            f"{REPLICAS} replicas starting together on {boards} new boards: 429s",
            refused,
            "0",
            refused == 0,
        ),
        Row(
            8,
            f"{REPLICAS} replicas starting together on {boards} new boards: most requests "
            "in any 10 s",
            busiest,
            "<= 100",
            busiest <= 100,
        ),
        Row(
            8,
            f"  {REPLICAS} replicas, {boards} new boards: every template card made after",
            round(took, 1),
            "",
            True,
            "s",
        ),
    ]
    report.details["replicas_starting"] = {
        "requests": len(ours),
        "kinds": kinds(ours),
        "template_cards_after_s": took,
    }


# -- 9. memory: many boards, many open incidents ---------------------------------------------------

MEMORY_BOARDS = 200
MEMORY_INCIDENTS = 500
#: What the incidents are declared under before the measured worker starts: no latency, and
#: a rate limit (the sandbox's and the preparing worker's) that holds nothing back.
UNLIMITED = 100_000


def measure_many_incidents(report: Report) -> None:
    """200 boards and 500 open incidents, declared by a first worker on a fast sandbox; then
    a second worker, on Trello's latency and limits, starts on them and runs a reconcile pass
    over them all: its peak resident memory."""
    boards, incidents = MEMORY_BOARDS, MEMORY_INCIDENTS
    with stage(
        boards=boards, settings={**QUIET, "INCIDENT_POLL_SECONDS": str(POLL_SECONDS)}
    ) as scene:
        scene.sandbox.set_rate_limit(UNLIMITED, UNLIMITED, 10.0)
        preparing = scene.start_replica(
            "preparing", settings={"INCIDENT_RATE_LIMIT": str(UNLIMITED)}
        )
        cards: list[str] = []
        for n, board in enumerate(scene.board_ids):
            count = incidents // boards + (1 if n < incidents % boards else 0)
            made = make_cards(scene, count, board, "Many") if count else []
            label_cards(scene, made, board, threads=min(4, count or 1))
            cards += made
        wait_declared(scene, cards, 900)
        preparing.process.send_signal(signal.SIGTERM)
        preparing.process.wait(60)
        scene.sandbox.set_rate_limit(100, 300, 10.0)
        scene.sandbox.faults.configure(latency=(LATENCY, LATENCY))
        mark = len(scene.sandbox.request_log)
        scene.start_worker(wait=True)
        wait_for(
            lambda: (
                sum(1 for e in scene.sandbox.request_log[mark:] if is_card_listing(e)) >= boards
            ),
            "a reconcile pass over every board",
            600,
        )
        scene.wait_for_cycles(2, timeout=300)
        assert scene.process is not None
        peak = vm_hwm_mb(scene.process.pid)
        log = scene.sandbox.request_log[mark:]
        refused = sum(1 for e in log if is_request(e) and e.status == 429)
    report.rows += [
        Row(
            9,
            f"peak resident memory, {boards} boards and {incidents} open incidents",
            round(peak, 1),
            "< 120 MB",
            peak < 120,
            "MB",
        ),
        Row(9, f"  {boards} boards, {incidents} incidents: 429s", refused, "0", refused == 0),
    ]
    report.details["many_incidents"] = {"peak_rss_mb": peak}


def postgres_missing(report: Report, number: int, what: str) -> bool:
    """Whether no PostgreSQL server answers (`POSTGRES_TEST_URL`, as for the tests); then the
    measurement's row says it was not measured."""
    from tests import postgres  # the test suite's server and fresh databases

    reason = postgres.unreachable()
    if reason is None:
        return False
    print(f"{number} not measured: {reason}", file=sys.stderr)
    report.rows.append(Row(number, f"{what}: not measured (no PostgreSQL)", 0, "", False))
    return True


@contextmanager
def replica_stage(boards: int) -> Iterator[Stage]:
    """A slow stage of `boards` boards on a fresh PostgreSQL database, migrated, polling every
    `POLL_SECONDS`: where replicas are started."""
    from tests import postgres

    with (
        postgres.fresh_database() as url,
        slow_stage(
            boards=boards,
            settings={"INCIDENT_DATABASE_URL": url, "INCIDENT_POLL_SECONDS": str(POLL_SECONDS)},
        ) as scene,
    ):
        migrated = scene.run("migrate")
        assert migrated.returncode == 0, migrated.stderr
        yield scene


# -- 6. replicas sharing boards ----------------------------------------------------------------

REPLICAS = 3
REPLICA_BOARDS = 15


def measure_replicas(report: Report) -> None:
    """Three worker processes on one PostgreSQL database, fifteen boards: what they cost
    Trello when idle, and how fast a label is answered on any board."""
    if postgres_missing(report, 6, "replicas"):
        return
    with replica_stage(REPLICA_BOARDS) as scene:
        began = time.monotonic()
        mark = len(scene.sandbox.request_log)
        replicas = [scene.start_replica(f"r{n}", wait=False) for n in range(1, REPLICAS + 1)]
        for replica in replicas:
            wait_for(lambda r=replica: "ready: watching" in r.log(), f"{replica.name}", 120)

        def shared_out() -> bool:
            store = Store.open(scene.env["INCIDENT_DATABASE_URL"])
            try:
                held = [lease for lease in store.replicas.leases() if lease.live]
            finally:
                store.close()
            holders = Counter(lease.holder for lease in held)
            return len(held) == REPLICA_BOARDS and len(holders) == REPLICAS

        wait_for(shared_out, "the boards shared out", 120)
        scene.wait_for_cycles(2, timeout=120)  # settled: every board set up and read
        wait_for(shared_out, "the boards still shared out", 30)
        started_in = time.monotonic() - began
        start_requests = sum(1 for e in scene.sandbox.request_log[mark:] if is_request(e))
        per_cycle, counted = idle_requests(scene, 3)
        reaction = reaction_times(scene, POLL_SECONDS, REACTION_SAMPLES, scene.board_ids)
    p95 = percentile(reaction, 0.95)
    report.rows += [
        Row(
            6,
            f"{REPLICAS} replicas, {REPLICA_BOARDS} boards: requests per board per idle cycle",
            round(per_cycle, 2),
            "<= 1",
            per_cycle <= 1.0,
            why_missed=kinds(counted),
        ),
        Row(
            6,
            f"{REPLICAS} replicas, {REPLICA_BOARDS} boards: reaction p50, polling (5 s)",
            round(statistics.median(reaction), 2),
            "",
            True,
            "s",
        ),
        Row(
            6,
            f"{REPLICAS} replicas, {REPLICA_BOARDS} boards: reaction p95, polling (5 s)",
            round(p95, 2),
            f"<= {POLL_SECONDS + 1:g} s",
            p95 <= POLL_SECONDS + 1,
            "s",
            why_missed=f"slowest {max(reaction):.2f} s",
        ),
        Row(
            6,
            f"{REPLICAS} replicas, {REPLICA_BOARDS} boards: requests to start on new boards",
            start_requests,
            "(once: template cards made)",
            True,
        ),
    ]
    report.details["replicas"] = {
        "started_in_s": started_in,
        "start_requests": start_requests,
        "idle_requests": kinds(counted),
        "reaction_s": reaction,
    }


# -- the table --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "latency_s": LATENCY,
    }


def table(rows: Sequence[Row]) -> str:
    lines = ["| # | measure | ours | target | met? |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        met = "yes" if row.met else "**no**"
        if row.target.startswith("("):
            met = ""
        lines.append(f"| {row.number} | {row.measure} | {row.shown()} | {row.target} | {met} |")
    missed = [row for row in rows if not row.met]
    if missed:
        lines.append("")
        lines += [f"- missed, {row.measure.strip()}: {row.why_missed}" for row in missed]
    return "\n".join(lines)


MEASURES: dict[int, Callable[[Report], None]] = {
    1: measure_declaration,
    2: lambda report: measure_idle_and_memory(report, idle=True, memory=False),
    3: measure_reaction,
    4: measure_burst,
    5: lambda report: measure_idle_and_memory(report, idle=False, memory=True),
    6: measure_replicas,
    7: measure_scale,
    8: measure_replicas_starting,
    9: measure_many_incidents,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", type=int, choices=sorted(MEASURES), help="one measurement")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    report = Report()
    began = time.monotonic()
    if args.only is None:
        measure_declaration(report)
        measure_idle_and_memory(report, idle=True, memory=True)  # 2 and 5 share the 50 incidents
        measure_reaction(report)
        measure_burst(report)
        measure_replicas(report)
        measure_scale(report)
        measure_replicas_starting(report)
        measure_many_incidents(report)
    else:
        MEASURES[args.only](report)
    report.rows.sort(key=lambda row: row.number)
    took = time.monotonic() - began
    info = machine()
    print(table(report.rows))
    print(
        f"\n{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['date']}; "
        f"{LATENCY * 1000:.0f} ms added per request; took {took:.0f} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "machine": info,
        "took_s": took,
        "rows": [asdict(row) for row in report.rows],
        "details": report.details,
    }
    args.out.write_text(json.dumps(body, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0 if all(row.met for row in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
