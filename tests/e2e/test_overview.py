"""The overview pages as people use them: the real worker process serving them, a real
headless Chromium reading them, the sandbox underneath; and `insights` and `replay` run as
commands. Screenshots go to `PAGE_SCREENSHOTS` when it names a folder."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, console_errors, shot
from tests.e2e.conftest import StageFactory
from tests.e2e.harness import Stage
from worker.demo import wait_for

pytestmark = pytest.mark.e2e

COMMUNICATE = "Consider communicating: "


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def images_loaded(driver: Any) -> list[tuple[str, int]]:
    """Each picture on the page and its width as loaded (0: it did not load)."""
    return [
        (
            str(img.get_attribute("src")),
            int(driver.execute_script("return arguments[0].naturalWidth", img)),
        )
        for img in driver.find_elements("css selector", "img")
    ]


def get(url: str, password: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"anyone:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read().decode()


def test_the_overview_shows_an_incident_declared_on_the_board(
    make_stage: StageFactory, tmp_path: Path
) -> None:
    port = free_port()
    scene: Stage = make_stage(INCIDENT_WEB_LISTEN=f"127.0.0.1:{port}")
    scene.start_worker()
    root = f"http://127.0.0.1:{port}/"
    with chromium() as driver:
        driver.get(root)
        assert "No open incidents." in driver.page_source
        assert console_errors(driver) == []

        card = scene.declare("Checkout is down")
        scene.person("alice").comment(card, "/communicator @bob\n/sev 1")
        scene.wait_for_comment(card, "Noted")
        # the page refreshes itself: no reload here
        wait_for(
            lambda: driver.find_elements("css selector", f'tr[data-card="{card}"]') or None,
            "the incident on the page",
            timeout=30,
        )
        wait_for(lambda: "@bob" in driver.page_source or None, "the communicator shown", 30)
        (row,) = driver.find_elements("css selector", f'tr[data-card="{card}"]')
        link = row.find_element("link text", "Checkout is down")
        assert link.get_attribute("href") == scene.card(card)["shortUrl"]
        assert "investigating" in row.text and "noticed: to tell (due" in row.text
        assert "1 (critical)" in row.text
        assert console_errors(driver) == []
        shot(driver, "overview", tmp_path)

        row.find_element("link text", "timeline").click()
        wait_for(lambda: "Post mortem: Checkout is down" in driver.page_source or None, "the draft")
        assert [w for _, w in images_loaded(driver)] and all(
            w > 0 for _, w in images_loaded(driver)
        )
        assert console_errors(driver) == []
        shot(driver, "incident", tmp_path)

        bob = scene.person("bob")
        bob.tick(card, COMMUNICATE + "When we first notice")
        scene.person("carol").label(card, "Resolved")
        scene.wait_for_comment(card, "**Resolved**")

        def resolution_shown() -> bool | None:
            driver.get(root + "insights")
            rows = driver.find_elements("css selector", "#versions tr")
            found = [r.text for r in rows if r.text.startswith("Time to resolution")]
            return bool(found) and " - " not in f"{found[0]} " or None

        wait_for(resolution_shown, "the resolution in the insights")
        loaded = images_loaded(driver)
        assert len(loaded) == 4 and all(width > 0 for _, width in loaded), loaded
        assert "1 incidents" in driver.page_source
        assert console_errors(driver) == []
        shot(driver, "insights", tmp_path)

    out = tmp_path / "insights"
    written = scene.run("insights", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "audiences.png",
        "index.html",
        "per-month.png",
        "times.png",
        "versions.png",
    ]
    assert "Time to resolution" in written.stdout

    replayed = scene.run("replay", card)
    assert replayed.returncode == 0, replayed.stderr
    lines = replayed.stdout.splitlines()
    assert lines[2].split()[:4] == ["COMMENT", "DID", "WOULD", "DO"]
    declared = next(line for line in lines if line.startswith("declared "))
    assert declared.split()[1:3] != ["-", "-"] and " - " not in declared[:40]
    assert scene.stop_worker() == 0


def test_the_pages_ask_for_the_password_and_show_no_secret(make_stage: StageFactory) -> None:
    port = free_port()
    channel = "json://127.0.0.1:9/hook?secret=channel-s3cret"
    scene = make_stage(
        INCIDENT_WEB_LISTEN=f"0.0.0.0:{port}",
        INCIDENT_WEB_PASSWORD="correct horse",
        INCIDENT_CHANNELS=json.dumps({"support": [channel]}),
    )
    scene.start_worker()
    card = scene.declare("Checkout is down")
    root = f"http://127.0.0.1:{port}"
    assert get(root + "/")[0] == 401
    assert get(root + "/", "wrong")[0] == 401
    assert get(root + "/metrics", "wrong")[0] == 401
    assert get(root + "/healthz")[0] == 200
    secrets = [
        scene.env["TRELLO_TOKEN"],
        scene.env["TRELLO_API_KEY"],
        "channel-s3cret",
        "correct horse",
    ]
    for path in ("/", f"/incidents/{card}", "/insights", "/metrics"):
        status, body = get(root + path, "correct horse")
        assert status == 200, path
        assert not [secret for secret in secrets if secret in body], path
    assert "incident_worker_open_incidents" in get(root + "/metrics", "correct horse")[1]
    assert scene.stop_worker() == 0
