"""The end-to-end tests' stage: the demo's (`worker.demo`), with what only tests need on it.

More worker processes on the same settings (replicas), the worker's cycles counted from the
sandbox's request log, one-shot commands run to their end, the worker's log, and an incident
declared the usual way. `benchmarks/run.py` measures on this stage too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from worker import demo
from worker.demo import QUICK, read_log, wait_for
from worker.sandbox import Sandbox


@dataclass
class Replica:
    """One more worker process on the stage's settings."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return read_log(self.log_path)


class Stage(demo.Stage):
    """The demo's stage, and what the tests do on it besides playing an incident."""

    def start_replica(
        self,
        name: str,
        *,
        wait: bool = True,
        options: Sequence[str] = (),
        settings: dict[str, str] | None = None,
    ) -> Replica:
        """Start one more worker process (a replica) on the same settings but `settings`,
        logging to `<name>.log`; with `wait`, return once it has made its first pass."""
        log_path = self.folder / f"{name}.log"
        process = self.launch(log_path, options, wait=wait, settings=settings)
        return Replica(name, process, log_path)

    def worker_log(self) -> str:
        return read_log(self.log_path)

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run one `incident-worker` command to its end (e.g. `run --once`)."""
        return subprocess.run(
            self.command(*args),
            env=self.env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def feed_reads(self) -> int:
        """How many times the worker has read a board's actions feed (once a board a cycle)."""
        return sum(
            1
            for r in self.sandbox.request_log
            if r.member_username == "incident-worker"
            and r.method == "GET"
            and r.path.endswith("/actions")
            and r.path.startswith("/1/boards/")
            and r.status == 200
        )

    def wait_for_cycles(
        self, cycles: int, *, since: int | None = None, timeout: float = 30.0
    ) -> None:
        """Wait until the worker has read every board's feed `cycles` more times."""
        start = self.feed_reads() if since is None else since
        wanted = start + cycles * len(self.board_ids)
        wait_for(lambda: self.feed_reads() >= wanted, f"{cycles} worker cycle(s)", timeout)

    def declare(
        self,
        title: str,
        *,
        by: str = "alice",
        board: str | None = None,
        description: str = "",
        timeout: float = 20.0,
    ) -> str:
        """An incident begun the usual way, the worker running: `by` makes a card titled
        `title` on `board` (the first board), labels it Incident, and the worker declares it.
        The card's id."""
        person = self.person(by)
        card = person.create_card(board or self.board_ids[0], title)
        if description:
            card.set_description(description)
        person.label(card.id, "Incident")
        self.wait_for_comment(card.id, "Incident declared", timeout)
        return str(card.id)


def stage(
    *,
    boards: int = 1,
    settings: dict[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AbstractContextManager[Stage]:
    """A seeded sandbox of `boards` boards served on a free port, and the settings that point
    a worker at it: the demo's cadences, then `settings`.

    `clock` is the sandbox's (the dates of Trello's actions); the worker keeps the real time.
    """
    sandbox = Sandbox.seeded(boards=boards, clock=clock)
    return Stage.serving(sandbox, {**QUICK, **(settings or {})})
