"""End-to-end fixtures: the sandbox, the real worker process, people acting via py-trello."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.harness import Stage, stage
from worker.core.keys import source_marker
from worker.demo import wait_for

#: Fast cadences for tests; each test overrides what it is about.
FAST = {
    "INCIDENT_POLL_SECONDS": "0.2",
    "INCIDENT_RECONCILE_SECONDS": "1",
    "INCIDENT_REMINDER_SECONDS": "3600",
    "INCIDENT_ROLE_REMINDER_SECONDS": "3600",
    "INCIDENT_STATUS_UPDATE_SECONDS": "3600",
}

StageFactory = Callable[..., Stage]
IncidentFactory = Callable[..., tuple[Stage, str]]
SupportFactory = Callable[..., tuple[Stage, str, str]]


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


@pytest.fixture
def declared_incident(make_stage: StageFactory) -> IncidentFactory:
    """Make a stage on `settings`, start the worker, and have @alice declare an incident on a
    card titled `title` (`Stage.declare`); the stage and the card's id."""

    def declare(
        title: str,
        *,
        description: str = "",
        clock: Callable[[], datetime] | None = None,
        **settings: str,
    ) -> tuple[Stage, str]:
        scene = make_stage(clock=clock, **settings)
        scene.start_worker()
        return scene, scene.declare(title, description=description)

    return declare


def two_boards(make_stage: StageFactory, **settings: str) -> tuple[Stage, str, str]:
    """A stage whose worker watches a support board and opens incident cards on another (the
    second, INCIDENT_BOARD_ID); the stage and the two boards' ids."""
    scene = make_stage(boards=2, **settings)
    support, incidents = scene.board_ids
    scene.env["INCIDENT_BOARD_ID"] = incidents
    scene.env["TRELLO_BOARD_ID"] = support
    return scene, support, incidents


@pytest.fixture
def declared_from_support(make_stage: StageFactory) -> SupportFactory:
    """Make a stage with an incident board (`two_boards`) on `settings`, start the worker, and
    have @alice label a card titled `title` on the support board (in `list_name`); once the
    worker has declared the incident on a card of its own: the stage, the support card's id
    and the incident card's id."""

    def declare(title: str, *, list_name: str = "Doing", **settings: str) -> tuple[Stage, str, str]:
        scene, support, incidents = two_boards(make_stage, **settings)
        scene.start_worker()
        alice = scene.person("alice")
        source = alice.create_card(support, title, list_name=list_name)
        alice.label(source.id, "Incident")
        card = incident_card_for(scene, incidents, source.id)
        scene.wait_for_comment(card, "Incident declared")
        return scene, source.id, card

    return declare


def incident_card_for(scene: Stage, board_id: str, source_id: str) -> str:
    """The incident card the worker opened on `board_id` for the card `source_id`."""

    def find() -> str | None:
        state = scene.sandbox.state
        with state.lock:
            return next(
                (c.id for c in state.board_cards(board_id) if source_marker(source_id) in c.desc),
                None,
            )

    return wait_for(find, f"the incident card for {source_id}")


def cards_on(scene: Stage, board_id: str) -> list[dict[str, Any]]:
    """The open cards on `board_id` but the template card: id and name."""
    state = scene.sandbox.state
    with state.lock:
        return [
            {"id": c.id, "name": c.name}
            for c in state.board_cards(board_id)
            if not c.closed and not c.name.startswith("Incident template")
        ]


def markers(texts: list[str]) -> list[str]:
    return [text.rsplit("`", 2)[-2] for text in texts]


def checklist_names(card: dict[str, Any]) -> list[str]:
    return [checklist["name"] for checklist in card.get("checklists", [])]
