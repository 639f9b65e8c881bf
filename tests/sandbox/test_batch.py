"""`GET /1/batch`: up to ten GETs in one request, each answered on its own; and the gateway's
batched feed reads over it, a board's failure its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from tests.sandbox.conftest import SandboxFactory
from tests.sandbox.test_http import auth, call
from worker.errors import NotFoundError
from worker.sandbox import Sandbox, SandboxServer
from worker.trello.client import Trello
from worker.trello.session import Credentials, RetryPolicy, TrelloSession

MISSING = "f" * 24


def test_a_batch_answers_each_route_and_counts_once(
    sandbox_factory: SandboxFactory, http: requests.Session
) -> None:
    sb, server = sandbox_factory(rate_limit=(3, 300, 10.0))
    board = sb.board_ids[0]
    routes = [
        f"/boards/{board}/lists?filter=open",
        f"/boards/{MISSING}/actions",
        "/members/me",
        "/batch?urls=/members/me",  # no nesting
    ]
    answer = call(http, "GET", f"{server.url}/batch", params={**auth(sb), "urls": ",".join(routes)})
    assert answer.status_code == 200
    first, missing, me, nested = answer.json()
    assert list(first) == ["200"] and [x["name"] for x in first["200"]] == [
        "To Do",
        "Doing",
        "Done",
    ]
    assert missing["statusCode"] == 404 and "200" not in missing
    assert me["200"]["username"] == "incident-worker"
    assert nested["statusCode"] == 404
    log = sb.request_log
    assert [(e.path, e.status, e.batched) for e in log] == [
        ("/1/batch", 200, False),
        (f"/1/boards/{board}/lists", 200, True),
        (f"/1/boards/{MISSING}/actions", 404, True),
        ("/1/members/me", 200, True),
        ("/1/batch", 404, True),
    ]
    # one request against the limit of 3: two more pass, the next is refused
    for _ in range(2):
        assert call(http, "GET", f"{server.url}/members/me", params=auth(sb)).status_code == 200
    assert call(http, "GET", f"{server.url}/members/me", params=auth(sb)).status_code == 429


@pytest.mark.parametrize("count", [0, 11])
def test_a_batch_takes_one_to_ten_routes(
    sandbox_factory: SandboxFactory, http: requests.Session, count: int
) -> None:
    sb, server = sandbox_factory()
    urls = ",".join(["/members/me"] * count)
    answer = call(http, "GET", f"{server.url}/batch", params={**auth(sb), "urls": urls})
    assert answer.status_code == 400


Served = tuple[Trello, Sandbox, SandboxServer]


@pytest.fixture
def served_gateway(sandbox_factory: SandboxFactory) -> Iterator[Served]:
    sb, server = sandbox_factory(boards=12)
    credentials = Credentials(SecretStr(sb.api_key), SecretStr(sb.members["worker"].token))
    session = TrelloSession(server.url, credentials=credentials, retry=RetryPolicy(attempts=1))
    trello = Trello(session)
    try:
        yield trello, sb, server
    finally:
        trello.close()


def test_feeds_read_ten_boards_a_request_and_a_lost_board_hides_no_other(
    served_gateway: Served,
) -> None:
    trello, sb, _ = served_gateway
    boards = sb.board_ids
    for board in (boards[0], boards[10]):  # something to read on two of them
        trello.create_card(str(trello.lists(board)[0]["id"]), f"On {board}")
    sb.clear_request_log()
    wanted = [(board, None) for board in boards[:11]] + [(MISSING, "2026-01-01T00:00:00+00:00")]
    found = trello.feeds(wanted)
    assert list(found) == [*boards[:11], MISSING]
    assert isinstance(found[MISSING], NotFoundError)
    assert "(in TRELLO_BOARD_ID) does not exist" in str(found[MISSING])
    for board in boards[:11]:
        read = found[board]
        assert isinstance(read, list) and read == trello.board_actions(board)
    assert [a["type"] for a in found[boards[10]]] == ["createCard"]
    requests_made = [e for e in sb.request_log if not e.batched]
    assert [e.path for e in requests_made[:2]] == ["/1/batch", "/1/batch"]  # 12 routes: 10 + 2


def test_a_whole_board_in_one_request_labels_past_fifty_included(
    served_gateway: Served, http: requests.Session
) -> None:
    trello, sb, server = served_gateway
    board = sb.board_ids[0]
    for n in range(60):
        trello.create_label(board, f"label {n}", None)
    sb.clear_request_log()
    found, lists, labels, members = trello.board_whole(board)
    assert [e.path for e in sb.request_log] == [f"/1/boards/{board}"]
    assert found["id"] == board and [x["name"] for x in lists] == ["To Do", "Doing", "Done"]
    assert len(labels) == len(trello.labels(board)) == 65 and {"alice", "incident-worker"} <= {
        m["username"] for m in members
    }
    # as Trello, the nested labels stop at 50 unless asked for more
    plain = call(http, "GET", f"{server.url}/boards/{board}", params={**auth(sb), "labels": "all"})
    assert len(plain.json()["labels"]) == 50 and "lists" not in plain.json()


def test_taking_boards_up_reads_one_route_a_board_in_batches(served_gateway: Served) -> None:
    trello, sb, _ = served_gateway
    board = sb.board_ids[3]
    kept = trello.create_card(str(trello.lists(board)[0]["id"]), "Kept", desc="Kept by us")
    trello.archive_card(str(kept["id"]))
    trello.create_card(str(trello.lists(board)[0]["id"]), "Newest")
    sb.clear_request_log()
    found = trello.take_up_reads([*sb.board_ids, MISSING])
    requests_made = [e.path for e in sb.request_log if not e.batched]
    assert requests_made == ["/1/batch"] * 2  # 13 boards and a missing one, ten a batch
    assert isinstance(found[MISSING], NotFoundError)
    taken = found[board]
    assert not isinstance(taken, Exception)
    raw, lists, labels, members = taken.whole
    assert raw["id"] == board and len(lists) == 3 and labels and members
    assert taken.archived == [{"id": kept["id"], "desc": "Kept by us"}]  # what the keeper reads
    assert [a["type"] for a in taken.recent or ()] == ["createCard", "updateCard", "createCard"]
    quiet = found[sb.board_ids[0]]
    assert not isinstance(quiet, Exception) and quiet.recent == []
