"""Fixtures shared by every test: a clean environment, a fake clock, a sandbox factory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.factories import FakeClock


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's TRELLO_*/INCIDENT_* variables, .env file or state."""
    for name in list(os.environ):
        if name.startswith(("TRELLO_", "INCIDENT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    # the default database lives in the user's state folder: a test's own, never the user's
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock()


def live_markup(text: str) -> list[str]:
    """What in `text` would come alive when rendered: HTML, javascript links, people's bold,
    mentions of everyone. CommonMark (markdown-it) renders it, as Trello would.
    """
    import re

    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(text)
    found = re.findall(r"<(?:img|script|b)\b|href=\"javascript:", html)
    found += re.findall(r"<strong>(?:bold|fixed|x)</strong>", html)
    found += re.findall(r"(?<![\w\u200b])@(?:board|card)\b", text)
    return found
