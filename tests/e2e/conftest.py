"""End-to-end fixtures: the sandbox, the real worker process, people acting via py-trello."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.harness import Stage, stage

#: Fast cadences for tests; each test overrides what it is about.
FAST = {
    "INCIDENT_POLL_SECONDS": "0.2",
    "INCIDENT_RECONCILE_SECONDS": "1",
    "INCIDENT_REMINDER_SECONDS": "3600",
    "INCIDENT_ROLE_REMINDER_SECONDS": "3600",
    "INCIDENT_STATUS_UPDATE_SECONDS": "3600",
}

StageFactory = Callable[..., Stage]


@pytest.fixture
def make_stage() -> Iterator[StageFactory]:
    """Make a stage (sandbox + worker settings); everything is stopped after the test."""
    with ExitStack() as stack:

        def make(
            boards: int = 1, clock: Callable[[], datetime] | None = None, **settings: str
        ) -> Stage:
            return stack.enter_context(
                stage(boards=boards, settings={**FAST, **settings}, clock=clock)
            )

        yield make


def wait_for_cycles(scene: Stage, cycles: int) -> None:
    scene.wait_for_cycles(cycles)


def markers(texts: list[str]) -> list[str]:
    return [text.rsplit("`", 2)[-2] for text in texts]


def checklist_names(card: dict[str, Any]) -> list[str]:
    return [checklist["name"] for checklist in card.get("checklists", [])]
