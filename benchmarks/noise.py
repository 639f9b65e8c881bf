"""How much the worker says: its comments per incident on a scripted day, with the defaults.

Three incidents on two boards, played on a clock this script moves (the sandbox's and the
worker's), so a whole day and the next morning take seconds and every run gives the same
count. People answer late, as they do: the communicator of the first incident ticks its
messages 40 minutes and 3 hours after they were due, nobody names roles on the third until it
is stood down two hours on. The worker is the one `incident-worker run` builds, in this process,
cycling once a simulated minute; its cadences are the defaults (reminders every 15 min, a
status update asked for after 30 min of silence, roles asked for every 5 min, waits doubling
up to an hour, the lead brought in after three unanswered reminders).

    python benchmarks/noise.py          # prints one line per incident and the mean
    python benchmarks/noise.py --json   # the same, with every comment's first line
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a clone, installed or not

from tests.factories import StepClock, in_process_worker, sandbox_values  # noqa: E402
from worker.demo import Person  # noqa: E402
from worker.sandbox import Sandbox  # noqa: E402
from worker.settings import load_settings  # noqa: E402

COMMUNICATE = "Consider communicating: "
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: What people do, by minute of the day (the last steps fall on the next morning).
Step = Callable[[dict[str, Person], dict[str, str]], None]


def script(one: str, two: str) -> list[tuple[int, Step]]:
    def make(board: str, name: str, who: str, key: str) -> Step:
        def step(people: dict[str, Person], cards: dict[str, str]) -> None:
            cards[key] = people[who].create_card(board, name).id
            people[who].label(cards[key], "Incident")

        return step

    def say(who: str, key: str, text: str) -> Step:
        return lambda people, cards: people[who].comment(cards[key], text)

    def tick(who: str, key: str, item: str) -> Step:
        return lambda people, cards: people[who].tick(cards[key], item)

    def label(who: str, key: str, name: str, remove: bool = False) -> Step:
        return lambda people, cards: people[who].label(cards[key], name, remove=remove)

    def move(who: str, key: str, to: str) -> Step:
        return lambda people, cards: people[who].move(cards[key], to)

    return [
        (0, make(one, "Checkout is down", "alice", "checkout")),
        (2, say("alice", "checkout", "/communicator @bob\n/delvers @carol @dave")),
        (10, make(two, "Search is slow", "bob", "search")),
        (12, say("bob", "search", "/communicator @carol\n/quickfixers @dave")),
        (20, make(one, "Emails are late", "carol", "mail")),
        (17, tick("carol", "search", COMMUNICATE + "When we first notice")),
        (40, tick("bob", "checkout", COMMUNICATE + "When we first notice")),
        (55, say("carol", "checkout", "Payments fail at the provider; trying the backup.")),
        (70, say("dave", "checkout", "/workaround payments through the backup provider")),
        (75, label("bob", "search", "Resolved")),
        (100, tick("carol", "search", COMMUNICATE + "When the problems are resolved")),
        (140, label("alice", "mail", "Incident", remove=True)),
        (250, tick("bob", "checkout", COMMUNICATE + "When there is some workaround")),
        (260, move("carol", "checkout", "Done")),
        (280, tick("bob", "checkout", COMMUNICATE + "When the problems are resolved")),
        (24 * 60 + 90, tick("carol", "search", "CTO and product owner")),
        (24 * 60 + 90, tick("carol", "search", "The discussion should be facilitated")),
        (24 * 60 + 120, tick("alice", "checkout", "CTO and product owner")),
        (24 * 60 + 120, tick("alice", "checkout", "The discussion should be facilitated")),
    ]


def play() -> dict[str, list[str]]:
    """The day; each card's name -> the first line of each comment the worker posted on it."""
    clock = StepClock(MONDAY)
    sb = Sandbox.seeded(boards=2, clock=clock, rate_limit=(1_000_000, 1_000_000, 10.0))
    cards: dict[str, str] = {}
    with sb.serve() as server, tempfile.TemporaryDirectory() as folder:
        values = sandbox_values(
            sb,
            server,
            f"sqlite:///{folder}/noise.sqlite3",
            TRELLO_BOARD_ID=",".join(sb.board_ids),
            INCIDENT_RATE_LIMIT="1000000",
        )
        people = {name: Person(sb, server.url, name) for name in ("alice", "bob", "carol", "dave")}
        steps = sorted(script(*sb.board_ids), key=lambda step: step[0])
        try:
            with in_process_worker(load_settings(values, env_file=None), clock=clock) as worker:
                for minute in range(0, 26 * 60):
                    clock.now = MONDAY + timedelta(minutes=minute)
                    for _, step in [s for s in steps if s[0] == minute]:
                        step(people, cards)
                    worker.cycle()
        finally:
            for person in people.values():
                person.close()
        worker_id = sb.members["worker"].id
        said: dict[str, list[str]] = {}
        with sb.state.lock:
            for card_id in cards.values():
                name = sb.state.card(card_id).name
                said[name] = [
                    action.data["text"].splitlines()[0]
                    for action in sb.state.card_actions(card_id)
                    if action.type == "commentCard" and action.member_id == worker_id
                ]
    return said


def kind(first_line: str) -> str:
    if first_line.startswith("Reminder "):
        return "reminders"
    if "nobody is the" in first_line:
        return "role asks"
    if "nobody has commented" in first_line:
        return "status asks"
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="every comment's first line too")
    args = parser.parse_args()
    said = play()
    for name, lines in said.items():
        kinds = Counter(kind(line) for line in lines)
        print(f"{name}: {len(lines)} comments ({', '.join(f'{n} {k}' for k, n in kinds.items())})")
    total = sum(len(lines) for lines in said.values())
    print(f"mean: {total / len(said):.1f} comments per incident")
    if args.json:
        print(json.dumps(said, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
