"""`incident-worker sandbox` serves, prints its settings, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests


def test_serve_forever_prints_settings_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "worker", "sandbox", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        settings = dict(line.split("=", 1) for line in lines if line.startswith("TRELLO_"))
        assert set(settings) == {
            "TRELLO_API_URL",
            "TRELLO_API_KEY",
            "TRELLO_TOKEN",
            "TRELLO_BOARD_ID",
            "TRELLO_APP_SECRET",
        }
        assert sum(line.startswith("# ") for line in lines) == 4
        url = settings["TRELLO_API_URL"]
        with (
            requests.Session() as http,
            http.get(
                f"{url}/members/me",
                params={"key": settings["TRELLO_API_KEY"], "token": settings["TRELLO_TOKEN"]},
            ) as response,
        ):
            assert response.json()["username"] == "incident-worker"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
