"""The sandbox at the HTTP level: auth, refusals, rate limits, faults, admin routes, the log."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.sandbox.conftest import ClientFactory
from worker.sandbox import Sandbox, SandboxServer

Served = tuple[Sandbox, SandboxServer]


def auth(sb: Sandbox, member: str = "worker") -> dict[str, str]:
    return {"key": sb.api_key, "token": sb.members[member].token}


def oauth(sb: Sandbox, member: str = "worker") -> dict[str, str]:
    token = sb.members[member].token
    return {"Authorization": f'OAuth oauth_consumer_key="{sb.api_key}", oauth_token="{token}"'}


def todo_list(sb: Sandbox) -> str:
    return sb.state.records.board_lists(sb.board_ids[0])[0].id


def call(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    with http.request(method, url, **kwargs) as response:
        response.content  # noqa: B018  (read it all before the connection goes back)
        return response


def test_auth_by_query_or_oauth_header(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    me = f"{server.url}/members/me"
    assert call(http, "GET", me, params=auth(sb, "dave")).json()["username"] == "dave"
    assert call(http, "GET", me, headers=oauth(sb, "bob")).json()["username"] == "bob"
    no_key = call(http, "GET", me, params={"token": sb.members["bob"].token})
    assert (no_key.status_code, no_key.text) == (401, "invalid key")
    bad_token = call(http, "GET", me, params={"key": sb.api_key, "token": "0" * 64})
    assert (bad_token.status_code, bad_token.text) == (401, "invalid token")
    no_token = call(http, "GET", me, params={"key": sb.api_key})
    assert no_token.status_code == 401
    assert [entry.status for entry in sb.request_log] == [200, 200, 401, 401, 401]
    assert [entry.member_username for entry in sb.request_log] == ["dave", "bob", None, None, None]


def test_get_with_a_body_is_forbidden(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    response = call(http, "GET", f"{server.url}/members/me", params=auth(sb), data=b'{"a": 1}')
    assert response.status_code == 403


def test_not_found_and_bad_input(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    missing = call(http, "GET", f"{server.url}/cards/{'a' * 24}", params=auth(sb))
    assert (missing.status_code, missing.text) == (404, "The requested resource was not found.")
    assert call(http, "GET", f"{server.url}/nowhere", params=auth(sb)).status_code == 404
    no_name = call(http, "POST", f"{server.url}/lists", params=auth(sb), json={"name": "x"})
    assert (no_name.status_code, no_name.text) == (400, "invalid value for idBoard")
    for what in ("cards/nosuch", "boards/not-a-board", "lists/123", "checklists/x" * 1):
        malformed = call(http, "GET", f"{server.url}/{what}", params=auth(sb))
        assert (malformed.status_code, malformed.text) == (400, "invalid id"), what


def test_form_and_query_arguments_are_accepted(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    params = {**auth(sb), "idList": todo_list(sb), "name": "From the query"}
    made = call(http, "POST", f"{server.url}/cards", params=params)
    assert made.status_code == 200
    form = call(
        http,
        "POST",
        f"{server.url}/cards",
        params=auth(sb),
        data={"idList": todo_list(sb), "name": "Form"},
    )
    assert form.json()["name"] == "Form"
    put = call(
        http,
        "PUT",
        f"{server.url}/cards/{made.json()['id']}",
        params={**auth(sb), "closed": "true"},
    )
    assert put.json()["closed"] is True


def test_token_rate_limit(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    sb.set_rate_limit(5, 100, 60.0)
    me = f"{server.url}/members/me"
    answers = [call(http, "GET", me, params=auth(sb)) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert [r.headers["x-rate-limit-api-token-remaining"] for r in answers[:5]] == [
        "4",
        "3",
        "2",
        "1",
        "0",
    ]
    assert answers[0].headers["x-rate-limit-api-token-max"] == "5"
    assert answers[0].headers["x-rate-limit-api-token-interval-ms"] == "60000"
    refused = answers[5]
    assert refused.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    assert "Retry-After" not in refused.headers
    other_token = call(http, "GET", me, params=auth(sb, "alice"))
    assert other_token.status_code == 200  # the limit is per token


def test_key_rate_limit(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    sb.set_rate_limit(100, 5, 60.0)
    me = f"{server.url}/members/me"
    people = ["alice", "bob", "carol", "dave", "alice", "bob"]
    answers = [call(http, "GET", me, params=auth(sb, who)) for who in people]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert answers[5].json()["error"] == "API_KEY_LIMIT_EXCEEDED"
    assert answers[4].headers["x-rate-limit-api-key-remaining"] == "0"


def test_injected_errors_do_not_apply(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    sb.faults.configure(error_rate=1.0, statuses=(503,), seed=7)
    answer = call(
        http,
        "POST",
        f"{server.url}/lists",
        params=auth(sb),
        json={"name": "X", "idBoard": sb.board_ids[0]},
    )
    assert answer.status_code == 503
    assert [lst.name for lst in sb.state.records.board_lists(sb.board_ids[0])] == [
        "To Do",
        "Doing",
        "Done",
    ]
    sb.faults.reset()
    assert call(http, "GET", f"{server.url}/members/me", params=auth(sb)).status_code == 200


def test_dropped_before_applying(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    sb.faults.configure(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        http.post(
            f"{server.url}/cards", params=auth(sb), json={"idList": todo_list(sb), "name": "lost"}
        )
    assert sb.state.records.cards == {}
    assert sb.request_log[-1].status == 0


def test_dropped_after_applying(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    sb.faults.configure(drop_after_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        http.post(
            f"{server.url}/cards",
            params=auth(sb),
            json={"idList": todo_list(sb), "name": "applied"},
        )
    assert [card.name for card in sb.state.records.cards.values()] == ["applied"]
    sb.faults.reset()
    cards = call(
        http, "GET", f"{server.url}/boards/{sb.board_ids[0]}/cards", params=auth(sb)
    ).json()
    assert [card["name"] for card in cards] == ["applied"]


def test_latency(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    config = sb.faults.configure(latency=(0.2, 0.2))
    assert config.latency == (0.2, 0.2)
    assert sb.faults.config.latency == (0.2, 0.2)
    started = time.monotonic()
    assert call(http, "GET", f"{server.url}/members/me", params=auth(sb)).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_faults_go_through_the_project_session(sandbox: Served, trello: ClientFactory) -> None:
    from worker.errors import TrelloUnavailable

    sb, _ = sandbox
    client = trello()
    sb.faults.configure(error_rate=1.0, statuses=(500,))
    with pytest.raises(TrelloUnavailable):
        client.get_board(sb.board_ids[0])


def test_admin_routes(sandbox: Served, http: requests.Session) -> None:
    sb, server = sandbox
    root = server.url.removesuffix("/1")
    call(http, "GET", f"{server.url}/members/me", params=auth(sb, "alice"))
    log = call(http, "GET", f"{root}/_sandbox/requests").json()
    assert [(e["method"], e["path"], e["status"], e["member"]) for e in log] == [
        ("GET", "/1/members/me", 200, "alice")
    ]
    assert call(http, "DELETE", f"{root}/_sandbox/requests").status_code == 200
    assert call(http, "GET", f"{root}/_sandbox/requests").json() == []

    put = call(
        http,
        "PUT",
        f"{root}/_sandbox/faults",
        json={"error_rate": 1.0, "statuses": [502], "seed": 1},
    )
    assert put.json()["statuses"] == [502]
    assert sb.faults.config.error_rate == 1.0
    assert call(http, "GET", f"{root}/_sandbox/faults").json()["error_rate"] == 1.0  # never faulted
    assert call(http, "GET", f"{server.url}/members/me", params=auth(sb)).status_code == 502
    bad = call(http, "PUT", f"{root}/_sandbox/faults", json={"error_rate": 2})
    assert bad.status_code == 400
    call(http, "PUT", f"{root}/_sandbox/faults", json={})
    assert sb.faults.config.error_rate == 0.0

    answer = call(http, "GET", f"{root}/_sandbox/settings")
    settings = answer.json()
    assert settings["lines"] == sb.settings_lines(server.url)
    assert settings["board_ids"] == sb.board_ids
    assert answer.headers["X-Sandbox-Admin"].startswith("for tests only")
    assert bad.headers["X-Sandbox-Admin"].startswith("for tests only")


def test_settings_lines(sandbox: Served) -> None:
    sb, server = sandbox
    lines = sb.settings_lines(server.url)
    assert lines[:5] == [
        f"TRELLO_API_URL={server.url}",
        f"TRELLO_API_KEY={sb.api_key}",
        f"TRELLO_TOKEN={sb.members['worker'].token}",
        f"TRELLO_BOARD_ID={sb.board_ids[0]}",
        f"TRELLO_APP_SECRET={sb.app_secret}",
    ]
    assert lines[5:] == [
        f"# {who}: token {sb.members[who].token}" for who in ("alice", "bob", "carol", "dave")
    ]
    assert len(sb.api_key) == 32
    assert len(sb.app_secret) == 64 and int(sb.app_secret, 16) >= 0
    assert all(len(m.token) == 64 for m in sb.members.values())
    assert sb.members["worker"].token not in repr(sb.members["worker"])


def test_request_log(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello("bob")
    client.get_board(sb.board_ids[0]).list_lists()
    log = sb.request_log
    assert [(e.method, e.path, e.status, e.member_username) for e in log] == [
        ("GET", f"/1/boards/{sb.board_ids[0]}", 200, "bob"),
        ("GET", f"/1/boards/{sb.board_ids[0]}/lists", 200, "bob"),
    ]
    assert log[0].time <= log[1].time
    sb.clear_request_log()
    assert sb.request_log == []


@pytest.mark.parametrize(
    ("limit", "status", "count"),
    [(None, 200, 50), ("1000", 200, 64), ("60", 200, 60), ("0", 400, None), ("1001", 400, None)],
)
def test_a_boards_labels_come_fifty_at_a_time_unless_more_are_asked_for(
    sandbox: Served, http: requests.Session, limit: str | None, status: int, count: int | None
) -> None:
    sb, server = sandbox
    board = sb.board_ids[0]
    url = f"{server.url}/boards/{board}/labels"
    had = len(call(http, "GET", url, params={**auth(sb), "limit": "1000"}).json())
    for n in range(64 - had):
        made = call(http, "POST", url, params=auth(sb), json={"name": f"team {n}", "color": "blue"})
        assert made.status_code == 200
    params = {**auth(sb), **({"limit": limit} if limit else {})}
    answer = call(http, "GET", url, params=params)
    assert answer.status_code == status
    if count is not None:
        assert len(answer.json()) == count


@pytest.mark.parametrize(
    ("field", "length", "status"),
    [("text", 16384, 200), ("text", 16385, 400), ("name", 16385, 400), ("desc", 16385, 400)],
)
def test_texts_longer_than_trello_takes_are_refused_as_trello_does(
    sandbox: Served, http: requests.Session, field: str, length: int, status: int
) -> None:
    sb, server = sandbox
    params = {**auth(sb), "idList": todo_list(sb), "name": "Checkout is down"}
    card = call(http, "POST", f"{server.url}/cards", params=params).json()["id"]
    if field == "text":
        url, method = f"{server.url}/cards/{card}/actions/comments", "POST"
    else:
        url, method = f"{server.url}/cards/{card}", "PUT"
    answer = call(http, method, url, params=auth(sb), json={field: "x" * length})
    assert answer.status_code == status
    if status == 400:
        assert answer.text == f"invalid value for {field}"
