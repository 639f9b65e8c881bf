"""The sandbox's board page over real HTTP: what it shows, and each form acting through the
API as the person picked (recorded, logged and limited as that person's client would be)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.sandbox.conftest import SandboxFactory
from tests.sandbox.test_http import call, oauth
from worker.sandbox import Sandbox, SandboxServer


def page(server: SandboxServer) -> str:
    return server.page_url.rstrip("/")


def ids(html: str, name: str) -> list[str]:
    """The values of the hidden or select fields called `name` in a page's forms."""
    return re.findall(rf'name="{name}" value="([0-9a-f]+)"', html)


def act(
    http: requests.Session, server: SandboxServer, kind: str, person: str, **fields: str
) -> requests.Response:
    answer = http.post(f"{page(server)}/act/{kind}", data={"as": person, **fields}, timeout=5)
    assert answer.status_code == 200, answer.text  # after the 303 back to the page
    return answer


@pytest.fixture
def served(sandbox_factory: SandboxFactory) -> tuple[Sandbox, SandboxServer]:
    return sandbox_factory()


def made_card(sb: Sandbox, server: SandboxServer, http: requests.Session) -> str:
    board = http.get(f"{page(server)}/", timeout=5)
    todo = ids(board.text, "list")[0]
    answer = act(http, server, "create_card", "alice", list=todo, name="Checkout is down")
    found = re.search(r"/c/([0-9a-f]+)", answer.url)
    assert found is not None
    return found.group(1)


def test_the_index_is_the_board_and_a_card_is_made_as_the_person_picked(
    served: tuple[Sandbox, SandboxServer],
) -> None:
    sb, server = served
    with requests.Session() as http:
        board = http.get(f"{page(server)}/", timeout=5)
        assert board.url.startswith(f"{page(server)}/b/{sb.board_ids[0]}")
        assert [m for m in ("To Do", "Doing", "Done") if f'data-list="{m}"' in board.text]
        sb.clear_request_log()
        card = made_card(sb, server, http)
        (logged,) = [(e.method, e.path, e.member_username) for e in sb.request_log]
        assert logged == ("POST", "/1/cards", "alice")  # through the API, as alice
        with sb.state.lock:
            (action,) = sb.state.records.card_actions(card)
        assert action.type == "createCard" and action.member_id == sb.members["alice"].id
        again = http.get(f"{page(server)}/b/{sb.board_ids[0]}?as=bob", timeout=5)
        assert f'data-card="{card}"' in again.text and 'class="me">bob<' in again.text


def steps(sb: Sandbox, server: SandboxServer, http: requests.Session, card: str) -> tuple[str, str]:
    """A checklist of one item on the card, made through the API as carol: (its id, the
    item's id)."""
    made = call(
        http,
        "POST",
        f"{server.url}/cards/{card}/checklists",
        headers=oauth(sb, "carol"),
        data={"name": "Steps"},
    ).json()
    item = call(
        http,
        "POST",
        f"{server.url}/checklists/{made['id']}/checkItems",
        headers=oauth(sb, "carol"),
        data={"name": "Look at the logs"},
    ).json()
    return str(made["id"]), str(item["id"])


@pytest.mark.parametrize(
    ("kind", "fields", "method", "path", "action"),
    [
        ("add_label", {"label": "Incident"}, "POST", "/1/cards/{card}/idLabels", "addLabelToCard"),
        (
            "remove_label",
            {"label": "Bug"},
            "DELETE",
            "/1/cards/{card}/idLabels/{label}",
            "removeLabelFromCard",
        ),
        (
            "comment",
            {"text": "/communicator @bob"},
            "POST",
            "/1/cards/{card}/actions/comments",
            "commentCard",
        ),
        (
            "tick",
            {"item": "item"},
            "PUT",
            "/1/cards/{card}/checkItem/{item}",
            "updateCheckItemStateOnCard",
        ),
        (
            "untick",
            {"item": "item"},
            "PUT",
            "/1/cards/{card}/checkItem/{item}",
            "updateCheckItemStateOnCard",
        ),
        ("move", {"list": "Done"}, "PUT", "/1/cards/{card}", "updateCard"),
        ("archive", {}, "PUT", "/1/cards/{card}", "updateCard"),
        (
            "add_item",
            {"checklist": "checklist", "name": "Call the bank"},
            "POST",
            "/1/checklists/{checklist}/checkItems",
            "createCheckItem",
        ),
    ],
)
def test_each_form_is_one_api_request_as_the_person(
    served: tuple[Sandbox, SandboxServer],
    kind: str,
    fields: dict[str, str],
    method: str,
    path: str,
    action: str,
) -> None:
    sb, server = served
    records = sb.state.records
    with requests.Session() as http:
        card = made_card(sb, server, http)
        checklist, item = steps(sb, server, http, card)
        with sb.state.lock:
            named = {lab.name: lab.id for lab in records.board_labels(sb.board_ids[0])}
            named |= {lst.name: lst.id for lst in records.board_lists(sb.board_ids[0])}
        call(
            http,
            "POST",
            f"{server.url}/cards/{card}/idLabels",
            headers=oauth(sb, "carol"),
            data={"value": named["Bug"]},
        )
        call(
            http,
            "PUT",
            f"{server.url}/cards/{card}/checkItem/{item}",
            headers=oauth(sb, "carol"),
            data={"state": "complete" if kind == "untick" else "incomplete"},
        )
        named |= {"item": item, "checklist": checklist}
        given = {k: named.get(v, v) for k, v in fields.items()}
        sb.clear_request_log()
        with sb.state.lock:
            mark = len(records.card_actions(card))
        answer = act(http, server, kind, "bob", card=card, **given)
        assert "refused" not in answer.text
        expected = path.format(card=card, item=item, checklist=checklist, label=named["Bug"])
        assert [(e.method, e.path, e.member_username) for e in sb.request_log] == [
            (method, expected, "bob")
        ]
        with sb.state.lock:
            recorded = records.card_actions(card)[mark:]
        assert (action, sb.members["bob"].id) == (recorded[0].type, recorded[0].member_id)


def test_a_refused_form_says_why_and_names_no_other_path(
    served: tuple[Sandbox, SandboxServer],
) -> None:
    sb, server = served
    with requests.Session() as http:
        card = made_card(sb, server, http)
        sb.clear_request_log()
        answer = act(http, server, "comment", "dave", card=card, text="x" * 16385)
        assert "The sandbox refused comment: invalid value for text" in answer.text
        answer = act(http, server, "move", "dave", card=f"{card}/../../boards", list="x")
        assert "The sandbox refused move" in answer.text
        assert [e.path for e in sb.request_log] == [
            f"/1/cards/{card}/actions/comments",
            "/1/cards/-",  # an id that is no id names no other path
        ]
        missing = http.get(f"{page(server)}/c/{'f' * 24}", timeout=5)
        assert missing.status_code == 404 and "no such page" in missing.text


def test_no_page_shows_a_token_and_each_change_moves_the_version(
    served: tuple[Sandbox, SandboxServer],
) -> None:
    sb, server = served
    with requests.Session() as http:
        before = http.get(f"{page(server)}/version", timeout=5).text
        card = made_card(sb, server, http)
        act(http, server, "comment", "alice", card=card, text="**Noted** @bob, see `iw:x`")
        after = http.get(f"{page(server)}/version", timeout=5).text
        assert int(after) == int(before) + 2  # the card made, the comment
        shown = [
            http.get(f"{page(server)}{where}", timeout=5).text
            for where in ("/", f"/b/{sb.board_ids[0]}", f"/c/{card}?as=carol")
        ]
        assert '<strong>Noted</strong> <span class="mention">@bob</span>' in shown[2]
        for member in sb.members.values():
            assert not [html for html in shown if member.token in html]
        assert sb.api_key not in "".join(shown)


def test_an_archived_card_is_off_the_board_but_still_has_its_page(
    served: tuple[Sandbox, SandboxServer],
) -> None:
    sb, server = served
    with requests.Session() as http:
        card = made_card(sb, server, http)
        board = f"{page(server)}/b/{sb.board_ids[0]}"
        assert f'data-card="{card}"' in http.get(board, timeout=5).text
        act(http, server, "archive", "alice", card=card)
        assert f'data-card="{card}"' not in http.get(board, timeout=5).text
        assert "archived" in http.get(f"{page(server)}/c/{card}", timeout=5).text


@pytest.mark.parametrize(
    ("due", "complete", "shown"),
    [
        ("2020-03-10T14:00:00.000Z", "false", 'class="due overdue">due Tue 10 Mar 14:00 UTC'),
        ("2020-03-10T14:00:00.000Z", "true", 'class="due complete">due Tue 10 Mar 14:00 UTC'),
        ("2099-03-10T14:00:00.000Z", "false", 'class="due ">due Tue 10 Mar 14:00 UTC'),
    ],
)
def test_a_due_date_is_shown_with_its_state(
    served: tuple[Sandbox, SandboxServer], due: str, complete: str, shown: str
) -> None:
    sb, server = served
    with requests.Session() as http:
        card = made_card(sb, server, http)
        call(
            http,
            "PUT",
            f"{server.url}/cards/{card}",
            headers=oauth(sb, "carol"),
            data={"due": due, "dueComplete": complete},
        )
        assert shown in http.get(f"{page(server)}/b/{sb.board_ids[0]}", timeout=5).text
        assert shown in http.get(f"{page(server)}/c/{card}", timeout=5).text


def test_a_form_posted_from_another_site_is_refused(served: tuple[Sandbox, SandboxServer]) -> None:
    sb, server = served
    with requests.Session() as http:
        card = made_card(sb, server, http)
        sb.clear_request_log()
        answer = http.post(
            f"{page(server)}/act/comment",
            data={"as": "alice", "card": card, "text": "hello"},
            headers={"Origin": "https://elsewhere.example"},
            timeout=5,
        )
        assert answer.status_code == 403 and sb.request_log == []
        same = http.post(
            f"{page(server)}/act/comment",
            data={"as": "alice", "card": card, "text": "hello"},
            headers={"Origin": page(server)},
            timeout=5,
        )
        assert same.status_code == 200 and [e.path for e in sb.request_log] == [
            f"/1/cards/{card}/actions/comments"
        ]
