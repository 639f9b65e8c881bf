"""A real headless browser for the tests of the pages: Debian's Chromium through selenium.

Where Chromium or its driver is not installed, the tests that need it are skipped saying so;
with `CI` set they fail instead, since CI installs them (`.ci/run`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.postgres import skip_unless_ci

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def missing() -> str | None:
    """Why no browser can be started, or None when one can."""
    if not any(shutil.which(name) for name in BROWSERS):
        return "no Chromium installed (apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no ChromeDriver installed (apt-get install chromium-driver)"
    return None


def require() -> None:
    """Skip the test when there is no browser; fail it when `CI` is set."""
    skip_unless_ci("the browser tests", missing())


@contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A headless Chromium (selenium's driver), its browser log kept; quit afterwards."""
    require()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = next(shutil.which(name) for name in BROWSERS if shutil.which(name))
    options.binary_location = str(binary)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str, tmp_path: Path) -> None:
    """A screenshot of the page, kept with the test's files (and in PAGE_SCREENSHOTS, when
    that names a folder: how the README's pictures are taken)."""
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    folder = os.environ.get("PAGE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors since the last look (a page's failed loads among them)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
