"""Webhooks in the sandbox: the HEAD check, signed deliveries, 410, retries, py-trello's calls.

Each test serves a real receiver (Werkzeug on 127.0.0.1, port 0) that records the HEADs and
POSTs it gets; a test waits for the sandbox's delivery queue to drain, never sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import requests
from trello import Card
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.sandbox.conftest import ClientFactory, SandboxFactory, client_for
from worker.sandbox import Sandbox, SandboxServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Served = tuple[Sandbox, SandboxServer]
DEADLINE = 5.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Receiver:
    """A webhook receiver: answers HEAD and POST per path (200 unless told), records both."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self.posts: list[Received] = []
        self.head_status: dict[str, int] = {}
        self.post_status: dict[str, int] = {}
        self.on_post: Callable[[Received], None] | None = None
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._stopped = False

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.port}{path}"

    def posts_to(self, path: str) -> list[Received]:
        with self._lock:
            return [post for post in self.posts if post.path == path]

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        path = request.path
        if request.method == "HEAD":
            with self._lock:
                self.heads.append(path)
            status = self.head_status.get(path, 200)
        elif request.method == "POST":
            received = Received(path, dict(request.headers.items()), request.get_data())
            with self._lock:
                self.posts.append(received)
            if self.on_post is not None:
                self.on_post(received)
            status = self.post_status.get(path, 200)
        else:
            status = 405
        return Response(status=status)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


def auth(sb: Sandbox, who: str = "worker") -> dict[str, str]:
    return {"key": sb.api_key, "token": sb.members[who].token}


def create(
    http: requests.Session, sb: Sandbox, server: SandboxServer, who: str = "worker", **args: str
) -> requests.Response:
    return http.post(f"{server.url}/webhooks", params=auth(sb, who), data=args, timeout=10)


def signature(secret: str, body: bytes, callback_url: str) -> str:
    """What Trello puts in `X-Trello-Webhook`, computed here from the documented recipe."""
    mac = hmac.new(secret.encode(), body + callback_url.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def verifies(sb: Sandbox, post: Received, callback_url: str) -> bool:
    expected = signature(sb.app_secret, post.body, callback_url)
    return hmac.compare_digest(expected, post.headers["X-Trello-Webhook"])


def drained(sb: Sandbox) -> None:
    assert sb.wait_for_deliveries(DEADLINE), f"deliveries still queued: {sb.deliveries}"


def new_card(client_card_board: Any, name: str) -> Card:
    card: Card = client_card_board.list_lists()[0].add_card(name)
    return card


def free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# -- creation --------------------------------------------------------------------------------


def test_creation_checks_the_callback_with_head(
    sandbox: Served, receiver: Receiver, http: requests.Session
) -> None:
    sb, server = sandbox
    board_id = sb.board_ids[0]
    receiver.head_status["/missing"] = 404
    refused = create(http, sb, server, callbackURL=receiver.url("/missing"), idModel=board_id)
    assert refused.status_code == 400
    assert refused.text == (
        f"URL ({receiver.url('/missing')}) did not return 200 status code, got 404"
    )
    assert receiver.heads == ["/missing"]

    unreachable = create(http, sb, server, callbackURL=free_port_url(), idModel=board_id)
    assert unreachable.status_code == 400
    assert "did not return 200 status code, got no response" in unreachable.text

    for bad in ({"callbackURL": "ftp://x/y", "idModel": board_id}, {"idModel": board_id}):
        assert create(http, sb, server, **bad).status_code == 400
    no_model = create(http, sb, server, callbackURL=receiver.url(), idModel="0" * 24)
    assert (no_model.status_code, no_model.text) == (400, "invalid value for idModel")
    assert receiver.heads == ["/missing"]  # nothing else got as far as the HEAD

    made = create(
        http, sb, server, callbackURL=receiver.url(), idModel=board_id, description="Larm"
    )
    assert made.status_code == 200
    body = made.json()
    assert body == {
        "id": body["id"],
        "description": "Larm",
        "idModel": board_id,
        "callbackURL": receiver.url(),
        "active": True,
        "consecutiveFailures": 0,
        "firstConsecutiveFailDate": None,
    }
    assert len(body["id"]) == 24
    assert receiver.heads == ["/missing", "/hook"]
    assert receiver.posts == []


def test_duplicate_is_refused_per_token(
    sandbox: Served, receiver: Receiver, http: requests.Session, trello: ClientFactory
) -> None:
    sb, server = sandbox
    board_id = sb.board_ids[0]
    assert create(http, sb, server, callbackURL=receiver.url(), idModel=board_id).ok
    again = create(http, sb, server, callbackURL=receiver.url(), idModel=board_id)
    assert (again.status_code, again.text) == (
        400,
        "A webhook with that callback, model, and token already exists",
    )
    assert create(http, sb, server, "alice", callbackURL=receiver.url(), idModel=board_id).ok
    card = new_card(trello().get_board(board_id), "Checkout is down")
    assert create(http, sb, server, callbackURL=receiver.url(), idModel=card.id).ok
    assert len(trello().list_hooks()) == 2
    assert len(trello("alice").list_hooks()) == 1


# -- deliveries ------------------------------------------------------------------------------


def test_label_added_is_delivered_signed_and_in_order(
    sandbox: Served, receiver: Receiver, trello: ClientFactory, http: requests.Session
) -> None:
    sb, server = sandbox
    board = trello().get_board(sb.board_ids[0])
    card = new_card(board, "Checkout is down")
    hook = trello().create_hook(receiver.url(), board.id, desc="incidents")  # trello.com/1/...
    assert receiver.heads == ["/hook"]

    looked: list[int] = []

    def look_back(post: Received) -> None:  # the sandbox must not hold its lock while posting
        with requests.get(
            f"{server.url}/cards/{card.id}", params=auth(sb), timeout=DEADLINE
        ) as response:
            looked.append(response.status_code)

    receiver.on_post = look_back
    incident = next(label for label in board.get_labels() if label.name == "Incident")
    trello("alice").get_card(card.id).add_label(incident)
    drained(sb)

    posts = receiver.posts_to("/hook")
    assert [post.json()["action"]["type"] for post in posts] == ["addLabelToCard", "updateCard"]
    assert looked == [200, 200]
    first = posts[0]
    payload = first.json()
    assert first.headers["Content-Type"] == "application/json"
    assert verifies(sb, first, receiver.url())
    assert not hmac.compare_digest(
        signature("0" * 64, first.body, receiver.url()), first.headers["X-Trello-Webhook"]
    )
    feed = http.get(f"{server.url}/boards/{board.id}/actions", params=auth(sb), timeout=10).json()
    assert [post.json()["action"]["id"] for post in posts] == [a["id"] for a in feed[:2]][::-1]
    # the action exactly as the feed has it, and the `display` recorded deliveries carry
    display = payload["action"].pop("display")
    assert payload["action"] == feed[1]
    assert display["translationKey"] == "action_add_label_to_card"
    assert display["entities"]["memberCreator"]["username"] == "alice"
    assert display["entities"]["card"]["id"] == feed[1]["data"]["card"]["id"]
    assert payload["action"]["data"]["label"]["name"] == "Incident"
    assert payload["action"]["memberCreator"]["username"] == "alice"
    assert payload["model"]["id"] == board.id
    assert payload["model"]["name"] == "Incidents"
    assert payload["webhook"] == {
        "id": hook.id,
        "description": "incidents",
        "idModel": board.id,
        "callbackURL": receiver.url(),
        "active": True,
    }
    log = sb.deliveries
    assert [(e.webhook_id, e.action_id, e.status, e.attempt, e.outcome) for e in log] == [
        (hook.id, post.json()["action"]["id"], 200, 1, "delivered") for post in posts
    ]
    assert all(e.callback_url == receiver.url() and e.error is None for e in log)

    for number in range(5):
        card.comment(f"update {number}")
    drained(sb)
    comments = [p.json()["action"] for p in receiver.posts_to("/hook")[2:]]
    assert [c["data"]["text"] for c in comments] == [f"update {n}" for n in range(5)]
    assert all(verifies(sb, post, receiver.url()) for post in receiver.posts_to("/hook"))


def test_non_ascii_names_and_comments_still_verify(
    sandbox: Served, receiver: Receiver, trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = trello("bob")
    board = client.get_board(sb.board_ids[0])
    url = receiver.url("/hook/kassa")
    client.create_hook(url, board.id, desc="Larm för kassan ✓")
    card = new_card(board, "Kassan är nere ✓")
    card.comment("Vi tittar på det – 🚑 snart åter")
    drained(sb)
    posts = receiver.posts_to("/hook/kassa")
    assert [post.json()["action"]["type"] for post in posts] == ["createCard", "commentCard"]
    assert all(verifies(sb, post, url) for post in posts)
    assert "Kassan är nere ✓".encode() in posts[0].body  # raw UTF-8, not \\u escapes
    comment = posts[1].json()
    assert comment["action"]["data"]["text"] == "Vi tittar på det – 🚑 snart åter"
    assert comment["action"]["data"]["card"]["name"] == "Kassan är nere ✓"
    assert comment["webhook"]["description"] == "Larm för kassan ✓"


def test_card_webhook_gets_only_that_cards_actions(
    sandbox: Served, receiver: Receiver, trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = trello()
    board = client.get_board(sb.board_ids[0])
    watched = new_card(board, "Checkout is down")
    other = new_card(board, "Search is slow")
    client.create_hook(receiver.url("/card"), watched.id)
    client.create_hook(receiver.url("/board"), board.id)
    watched.comment("on it")
    other.comment("not this one")
    watched.set_name("Checkout is down (EU)")
    drained(sb)
    on_card = [post.json() for post in receiver.posts_to("/card")]
    assert [p["action"]["type"] for p in on_card] == ["commentCard", "updateCard"]
    assert {p["action"]["data"]["card"]["id"] for p in on_card} == {watched.id}
    assert {p["model"]["id"] for p in on_card} == {watched.id}
    assert on_card[-1]["model"]["name"] == "Checkout is down (EU)"
    assert len(receiver.posts_to("/board")) == 3


def test_410_deletes_the_webhook(
    sandbox: Served, receiver: Receiver, trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = trello()
    board = client.get_board(sb.board_ids[0])
    receiver.post_status["/gone"] = 410
    client.create_hook(receiver.url("/gone"), board.id)
    client.create_hook(receiver.url("/hook"), board.id)
    card = new_card(board, "Checkout is down")
    drained(sb)
    assert [hook.callback_url for hook in client.list_hooks()] == [receiver.url("/hook")]
    assert [(e.status, e.outcome) for e in sb.deliveries if e.callback_url.endswith("/gone")] == [
        (410, "deleted")
    ]
    card.comment("still down")
    drained(sb)
    assert len(receiver.posts_to("/gone")) == 1
    assert len(receiver.posts_to("/hook")) == 2


def test_failures_are_retried_then_dropped(
    sandbox_factory: SandboxFactory,
    receiver: Receiver,
    sessions: list[requests.Session],
    http: requests.Session,
) -> None:
    sb, server = sandbox_factory(webhook_retry_delays=(0.05, 0.1, 0.2))
    client = client_for(sb, server, sessions)
    board = client.get_board(sb.board_ids[0])
    receiver.post_status["/broken"] = 500
    broken = client.create_hook(receiver.url("/broken"), board.id)
    healthy = client.create_hook(receiver.url("/hook"), board.id)
    dead = Receiver()
    try:
        gone_url = dead.url("/dead")
        client.create_hook(gone_url, board.id)
    finally:
        dead.stop()  # passes its HEAD, then refuses connections

    card = new_card(board, "Checkout is down")
    drained(sb)
    assert len(receiver.posts_to("/broken")) == 4  # the first try and three retries
    assert len(receiver.posts_to("/hook")) == 1  # not held up by the failing callbacks
    for url, status, error in (
        (receiver.url("/broken"), 500, None),
        (gone_url, None, "ConnectionError"),
    ):
        tries = [e for e in sb.deliveries if e.callback_url == url]
        assert [(e.attempt, e.status, e.error, e.outcome) for e in tries] == [
            (1, status, error, "retrying"),
            (2, status, error, "retrying"),
            (3, status, error, "retrying"),
            (4, status, error, "failed"),
        ]
    got = http.get(f"{server.url}/webhooks/{broken.id}", params=auth(sb), timeout=10).json()
    assert (got["consecutiveFailures"], got["active"]) == (1, True)
    assert got["firstConsecutiveFailDate"] is not None

    sb.delivery.deactivate_after = 2  # Trello gives up after many more; the rule is the same
    card.comment("still down")
    drained(sb)
    got = http.get(f"{server.url}/webhooks/{broken.id}", params=auth(sb), timeout=10).json()
    assert (got["consecutiveFailures"], got["active"]) == (2, False)
    card.comment("and again")
    drained(sb)
    assert len(receiver.posts_to("/broken")) == 8  # inactive: no more tries
    assert len(receiver.posts_to("/hook")) == 3
    ok = http.get(f"{server.url}/webhooks/{healthy.id}", params=auth(sb), timeout=10).json()
    assert ok["consecutiveFailures"] == 0


def test_dropped_and_paused_deliveries(
    sandbox: Served, receiver: Receiver, trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = trello()
    board = client.get_board(sb.board_ids[0])
    client.create_hook(receiver.url(), board.id)
    sb.faults.configure(webhook_drop_rate=1.0, seed=1)
    card = new_card(board, "Checkout is down")
    drained(sb)
    assert receiver.posts == []
    assert [e.outcome for e in sb.deliveries] == ["dropped"]
    sb.faults.reset()

    sb.pause_deliveries()
    card.comment("queued")
    assert sb.wait_for_deliveries(0.1) is False
    assert receiver.posts == []
    sb.resume_deliveries()
    drained(sb)
    assert [p.json()["action"]["data"]["text"] for p in receiver.posts] == ["queued"]


# -- py-trello and the webhook routes ----------------------------------------------------------


def test_list_get_update_delete_with_pytrello(
    sandbox: Served, receiver: Receiver, trello: ClientFactory, http: requests.Session
) -> None:
    sb, server = sandbox
    alice = trello("alice")
    board_id = sb.board_ids[0]
    made = alice.create_hook(receiver.url(), board_id, desc="alice's")
    assert trello("bob").list_hooks() == []
    [listed] = alice.list_hooks()
    assert (listed.id, listed.desc, listed.id_model) == (made.id, "alice's", board_id)
    assert (listed.callback_url, listed.active) == (receiver.url(), True)

    url = f"{server.url}/webhooks/{made.id}"
    assert http.get(url, params=auth(sb, "alice"), timeout=10).json()["id"] == made.id
    assert http.get(url, params=auth(sb, "bob"), timeout=10).status_code == 404
    other = f"{server.url}/tokens/{sb.members['alice'].token}/webhooks"
    assert http.get(other, params=auth(sb, "bob"), timeout=10).status_code == 401

    changed = http.put(
        url, params=auth(sb, "alice"), data={"description": "ändrad", "active": "false"}
    ).json()
    assert (changed["description"], changed["active"]) == ("ändrad", False)
    receiver.head_status["/moved"] = 404
    moved = http.put(url, params=auth(sb, "alice"), data={"callbackURL": receiver.url("/moved")})
    assert moved.status_code == 400 and "got 404" in moved.text
    assert http.get(f"{url}/callbackURL", params=auth(sb, "alice"), timeout=10).json() == {
        "_value": receiver.url()
    }

    listed.delete()
    assert alice.list_hooks() == []
    assert http.get(url, params=auth(sb, "alice"), timeout=10).status_code == 404


def test_token_route_with_form_key_and_trailing_slash(
    sandbox: Served, receiver: Receiver, http: requests.Session
) -> None:
    """py-trello's `create_hook` shape: token in the path, only the key in the form."""
    sb, server = sandbox
    token = sb.members["carol"].token
    response = http.post(
        f"{server.url}/tokens/{token}/webhooks/",
        data={"callbackURL": receiver.url(), "idModel": sb.board_ids[0], "key": sb.api_key},
        timeout=10,
    )
    assert response.status_code == 200
    listed = http.get(f"{server.url}/tokens/{token}/webhooks", params=auth(sb, "carol"))
    assert [hook["id"] for hook in listed.json()] == [response.json()["id"]]
    assert sb.request_log[0].member_username == "carol"
