"""The actions feed: order, since/before by id and by date, limit, page, filter, creators."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from trello import TrelloClient

from tests.factories import StepClock
from tests.sandbox.conftest import SandboxFactory, client_for
from worker.errors import RequestRejected
from worker.sandbox import Sandbox


@pytest.fixture
def timeline(
    sandbox_factory: SandboxFactory, step_clock: StepClock, sessions: list[requests.Session]
) -> tuple[Sandbox, TrelloClient, TrelloClient, str, list[dict[str, Any]]]:
    """A card with five comments one minute apart, alternately by the worker and alice."""
    sb, server = sandbox_factory(clock=step_clock)
    worker = client_for(sb, server, sessions)
    alice = client_for(sb, server, sessions, "alice")
    board = worker.get_board(sb.board_ids[0])
    card = board.list_lists()[0].add_card("Checkout is down")
    posted = []
    for number in range(5):
        step_clock.advance(minutes=1)
        client = worker if number % 2 == 0 else alice
        posted.append(client.get_card(card.id).comment(f"comment {number}"))
    return sb, worker, alice, sb.board_ids[0], posted


def feed(client: TrelloClient, board_id: str, **params: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.fetch_json(
        f"/boards/{board_id}/actions", query_params=params
    )
    return result


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["data"].get("text", a["type"]) for a in actions]


def test_newest_first_with_creators(timeline) -> None:  # type: ignore[no-untyped-def]
    sb, worker, _alice, board_id, posted = timeline
    actions = feed(worker, board_id)
    assert texts(actions) == [f"comment {n}" for n in (4, 3, 2, 1, 0)] + ["createCard"]
    assert [a["memberCreator"]["username"] for a in actions[:5]] == [
        "incident-worker",
        "alice",
        "incident-worker",
        "alice",
        "incident-worker",
    ]
    assert actions[1]["idMemberCreator"] == sb.members["alice"].id
    assert [a["id"] for a in actions] == sorted((a["id"] for a in actions), reverse=True)
    assert actions[0]["date"] == "2026-03-01T12:05:00.000Z"


def test_since_and_before_by_id(timeline) -> None:  # type: ignore[no-untyped-def]
    _sb, worker, _alice, board_id, posted = timeline
    assert texts(feed(worker, board_id, since=posted[2]["id"])) == ["comment 4", "comment 3"]
    assert texts(feed(worker, board_id, before=posted[1]["id"])) == ["comment 0", "createCard"]
    both = feed(worker, board_id, since=posted[0]["id"], before=posted[3]["id"])
    assert texts(both) == ["comment 2", "comment 1"]
    assert feed(worker, board_id, since=posted[4]["id"]) == []


def test_since_and_before_by_date(timeline) -> None:  # type: ignore[no-untyped-def]
    _sb, worker, _alice, board_id, posted = timeline
    exact = posted[2]["date"]  # exclusive: the action at that instant is left out
    assert texts(feed(worker, board_id, since=exact)) == ["comment 4", "comment 3"]
    assert texts(feed(worker, board_id, before=exact)) == ["comment 1", "comment 0", "createCard"]
    between = "2026-03-01T12:02:30+00:00"
    assert texts(feed(worker, board_id, since=between)) == ["comment 4", "comment 3", "comment 2"]
    board = worker.get_board(board_id)
    assert texts(board.fetch_actions("commentCard", since=between, before=posted[4]["date"])) == [
        "comment 3",
        "comment 2",
    ]


def test_limit_page_and_the_maximum(timeline) -> None:  # type: ignore[no-untyped-def]
    _sb, worker, _alice, board_id, _posted = timeline
    assert texts(feed(worker, board_id, limit=2)) == ["comment 4", "comment 3"]
    assert texts(feed(worker, board_id, limit=2, page=1)) == ["comment 2", "comment 1"]
    assert len(feed(worker, board_id, limit=1000)) == 6
    with pytest.raises(RequestRejected, match="400"):
        feed(worker, board_id, limit=1001)
    with pytest.raises(RequestRejected, match="invalid value for since"):
        feed(worker, board_id, since="yesterday-ish")


def test_filter(timeline) -> None:  # type: ignore[no-untyped-def]
    sb, worker, _alice, board_id, _posted = timeline
    board = worker.get_board(board_id)
    card = board.all_cards()[0]
    card.change_list(board.list_lists()[1].id)
    card.set_description("now with a description")
    assert [a["type"] for a in feed(worker, board_id, filter="createCard")] == ["createCard"]
    both = feed(worker, board_id, filter="createCard,updateCard")
    assert [a["type"] for a in both] == ["updateCard", "updateCard", "createCard"]
    moves = feed(worker, board_id, filter="updateCard:idList")
    assert len(moves) == 1
    assert moves[0]["data"]["listAfter"]["name"] == "Doing"
    assert len(feed(worker, board_id, filter="all")) == 8
    # the card feed's default filter is Trello's: comments and moves
    card_feed = worker.fetch_json(f"/cards/{card.id}/actions")
    assert [a["type"] for a in card_feed] == ["updateCard"] + ["commentCard"] * 5
    assert card_feed[0]["data"]["old"] == {"idList": board.list_lists()[0].id}
    assert len(card.fetch_actions("all", action_limit=3)) == 3


def test_feeds_are_per_board_and_per_card(
    sandbox_factory: SandboxFactory, sessions: list[requests.Session]
) -> None:
    sb, server = sandbox_factory(boards=2)
    client = client_for(sb, server, sessions)
    first, second = (client.get_board(board_id) for board_id in sb.board_ids)
    a = first.list_lists()[0].add_card("A")
    b = second.list_lists()[0].add_card("B")
    a.comment("on A")
    b.comment("on B")
    assert texts(first.fetch_actions("all")) == ["on A", "createCard"]
    assert texts(second.fetch_actions("all")) == ["on B", "createCard"]
    assert texts(b.fetch_actions("commentCard")) == ["on B"]
