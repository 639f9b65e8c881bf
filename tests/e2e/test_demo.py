"""`incident-worker demo --keep`: the whole play, then its board page left open, the worker
running, until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from worker.demo import wait_for

pytestmark = pytest.mark.e2e


def test_the_demo_prints_the_board_page_and_keeps_it_open_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            said.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(said)
        watch = re.search(r"act on it as its people: (http://127\.0\.0\.1:\d+/)", text)
        kept = re.search(r"The board stays open at (http://127\.0\.0\.1:\d+/)", text)
        assert watch is not None and kept is not None, text
        assert watch.group(1) == kept.group(1)
        with urllib.request.urlopen(kept.group(1), timeout=10) as answer:
            page = answer.read().decode()
        assert "Checkout is down" in page and "Follow-ups" in page
        process.send_signal(signal.SIGINT)
        assert wait_for(lambda: process.poll() is not None, "the demo to stop", 60)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
