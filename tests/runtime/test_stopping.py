"""`run_forever` stops on SIGTERM wherever the signal finds it: in the first pass, or while
the main thread waits and the scheduler's cycles run beside it."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from tests.factories import in_process_worker, sandbox_values
from worker.demo import wait_for
from worker.runtime.worker import READY
from worker.sandbox import Sandbox
from worker.settings import load_settings


@pytest.mark.parametrize("when", ["in the first pass", "once ready"])
def test_sigterm_stops_the_worker_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    sb = Sandbox.seeded(boards=3)
    before = signal.getsignal(signal.SIGTERM)
    with sb.serve() as server:
        values = sandbox_values(
            sb,
            server,
            f"sqlite:///{tmp_path}/w.sqlite3",
            TRELLO_BOARD_ID=",".join(sb.board_ids),
            INCIDENT_POLL_SECONDS="0.1",
        )
        with in_process_worker(load_settings(values, env_file=None)) as worker:
            returned = threading.Event()

            def send() -> None:  # from another thread, once the worker's handler is in
                wait_for(lambda: signal.getsignal(signal.SIGTERM) is not before, "the handler")
                if when == "once ready":
                    wait_for(lambda: any(READY in r.getMessage() for r in caplog.records), READY)
                if not returned.is_set():
                    os.kill(os.getpid(), signal.SIGTERM)

            sender = threading.Thread(target=send)
            with caplog.at_level(logging.INFO, logger="worker.runtime.worker"):
                sender.start()
                try:
                    worker.run_forever()
                finally:
                    returned.set()
                    sender.join()
            said = [r.getMessage() for r in caplog.records]
            assert worker.stop.is_set()
            assert said.count("SIGTERM received: stopping after the current step") == 1
            assert said[-1] == "stopped"
    assert signal.getsignal(signal.SIGTERM) is before  # the handler before is back
