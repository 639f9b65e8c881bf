"""The sandbox's board page as a team rehearsing would use it: a real headless Chromium, the
sandbox serving its boards, the real worker process watching; a whole incident driven only
through the page, each of the worker's reactions seen on it. Screenshots go to
`PAGE_SCREENSHOTS` when it names a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import chromium, console_errors, shot
from tests.e2e.conftest import StageFactory
from tests.e2e.harness import Stage

pytestmark = pytest.mark.e2e

#: What a page reloading itself under the browser's hand raises (a stale element, a node no
#: longer in the document): look again.
RELOADED = (WebDriverException,)

#: How long the page may take to show a reaction of the worker (it reloads itself on a change).
SEEN_WITHIN = 20.0


def shows(driver: Any, text: str) -> None:
    """Wait until the page, reloading itself, shows `text`."""
    WebDriverWait(driver, SEEN_WITHIN, ignored_exceptions=RELOADED).until(
        lambda d: text in d.find_element("tag name", "body").text,
        message=f"the page never showed {text!r}",
    )


def present(driver: Any, xpath: str) -> None:
    """Wait until the page, reloading itself, has what `xpath` finds."""
    WebDriverWait(driver, SEEN_WITHIN, ignored_exceptions=RELOADED).until(
        lambda d: d.find_elements("xpath", xpath), message=f"the page never had {xpath}"
    )


def press(driver: Any, xpath: str) -> None:
    """Click what `xpath` finds, again if the page reloaded under it."""

    def clicked(d: Any) -> bool:
        d.find_element("xpath", xpath).click()
        return True

    WebDriverWait(driver, SEEN_WITHIN, ignored_exceptions=RELOADED).until(
        clicked, message=f"nothing to click at {xpath}"
    )


def type_in(driver: Any, xpath: str, text: str) -> None:
    """Type into a field (the page holds its reloads while something is typed)."""

    def typed(d: Any) -> bool:
        field = d.find_element("xpath", xpath)
        field.clear()
        field.send_keys(text)
        return True

    WebDriverWait(driver, SEEN_WITHIN, ignored_exceptions=RELOADED).until(
        typed, message=f"nowhere to type at {xpath}"
    )


def test_an_incident_driven_only_through_the_board_page(
    make_stage: StageFactory, tmp_path: Path
) -> None:
    scene: Stage = make_stage()
    scene.start_worker()
    page = scene.server.page_url
    with chromium() as driver:
        driver.get(f"{page}?as=alice")
        assert "To Do" in driver.page_source and "alice" in driver.page_source

        # alice: a card, then the Incident label
        type_in(driver, "//input[@aria-label='New card in Doing']", "Checkout is down")
        press(driver, "//section[@data-list='Doing']//button[text()='Add a card']")
        shows(driver, "Checkout is down")
        press(driver, "//button[normalize-space()='+ Incident']")
        shows(driver, "Incident declared")
        shows(driver, "Until the problem is resolved")  # the checklists, added by the worker

        # alice, the lead, names bob the communicator; bob ticks the first message
        type_in(driver, "//textarea[@name='text']", "/communicator @bob")
        press(driver, "//button[text()='Comment as alice']")
        shows(driver, "Noted")
        press(driver, "//header//a[text()='bob']")
        shows(driver, "Comment as bob")
        first = "//li[contains(., 'When we first notice')]"
        press(driver, f"{first}//button")
        present(driver, f"{first}[contains(@class, 'done')]")

        # a workaround, seen on the board too
        press(driver, "//button[normalize-space()='+ Workaround']")
        shows(driver, "Workaround in place")
        card_url = driver.current_url
        press(driver, "//a[text()='Incidents']")
        shows(driver, "Workaround")
        shot(driver, "board-mid-incident", tmp_path)
        driver.get(card_url)
        shows(driver, "Workaround in place")
        shot(driver, "card-mid-incident", tmp_path)

        # moved to Done: resolved
        press(driver, "//select[@name='list']/option[text()='Done']")
        press(driver, "//button[text()='Move']")
        present(driver, "//h2[text()='Post mortem']")  # the worker's, on resolution
        assert "in list Done" in driver.find_element("tag name", "body").text
        assert console_errors(driver) == []
        source = driver.page_source
    assert not [m for m in scene.sandbox.members.values() if m.token in source]
    people = {
        (e.member_username, e.method, e.path.split("/")[2])
        for e in scene.sandbox.request_log
        if e.member_username in ("alice", "bob")
    }
    assert ("alice", "POST", "cards") in people and ("bob", "PUT", "cards") in people
    assert scene.stop_worker() == 0
