"""The sandbox driven by py-trello, unmodified, over a real HTTP server."""

from __future__ import annotations

import io

import pytest
import requests
from trello import Board, Card, Label, TrelloClient
from trello.trellolist import List

from tests.sandbox.conftest import ClientFactory, SandboxFactory, client_for
from worker.sandbox import Sandbox, SandboxServer

Served = tuple[Sandbox, SandboxServer]


def board_of(client: TrelloClient, sb: Sandbox) -> Board:
    return client.get_board(sb.board_ids[0])


def label_named(board: Board, name: str) -> Label:
    return next(label for label in board.get_labels() if label.name == name)


def new_card(board: Board, name: str = "Checkout is down") -> Card:
    return board.list_lists()[0].add_card(name, desc="Customers cannot pay")


def feed_types(client: TrelloClient, card: Card) -> list[str]:
    return [action["type"] for action in card.fetch_actions("all")]


def test_board_lists_labels_and_members(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    assert board.name == "Incidents"
    assert board.closed is False
    assert board.url.startswith("https://trello.com/b/")
    assert [lst.name for lst in board.list_lists()] == ["To Do", "Doing", "Done"]
    assert [(lb.name, lb.color) for lb in board.get_labels()] == [
        ("Incident", "red"),
        ("Workaround", "yellow"),
        ("Resolved", "green"),
        ("Bug", "orange"),
        ("Support", "blue"),
    ]
    usernames = {m.username for m in board.get_members()}
    assert usernames == {"incident-worker", "alice", "bob", "carol", "dave"}
    me = client.get_member("me")
    assert (me.username, me.id) == ("incident-worker", sb.members["worker"].id)
    assert client.get_member("alice").full_name == sb.members["alice"].full_name
    assert board.fetch_actions("all") == []  # seeding records nothing


def test_board_by_short_link_and_second_board(
    sandbox_factory: SandboxFactory, sessions: list[requests.Session]
) -> None:
    sb, server = sandbox_factory(boards=2)
    assert len(sb.board_ids) == 2
    short_link = sb.state.records.boards[sb.board_ids[1]].short_link
    client = client_for(sb, server, sessions, "bob")
    assert client.get_board(short_link).name == "Incidents 2"


def test_create_fetch_and_edit_a_card(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    todo, doing, _done = board.list_lists()
    card = todo.add_card(
        "Checkout is down", desc="Customers cannot pay", labels=[label_named(board, "Bug")]
    )
    assert card.idList == todo.id
    assert [lb.name for lb in card.labels] == ["Bug"]
    fetched = client.get_card(card.id)
    assert (fetched.name, fetched.desc, fetched.idShort) == (
        "Checkout is down",
        "Customers cannot pay",
        1,
    )
    by_short_link = client.get_card(card.shortUrl.rsplit("/", 1)[1])
    assert by_short_link.id == card.id

    card.set_name("Checkout is slow")
    card.set_description("Phase: detected")
    card.change_list(doing.id)
    card.fetch()
    assert (card.name, card.desc, card.idList) == ("Checkout is slow", "Phase: detected", doing.id)
    assert [c.name for c in doing.list_cards()] == ["Checkout is slow"]
    assert todo.list_cards() == []

    card.set_closed(True)
    assert [c.id for c in board.closed_cards()] == [card.id]
    assert board.open_cards() == []
    assert [c.id for c in board.all_cards()] == [card.id]
    card.set_closed(False)
    assert [c.id for c in board.open_cards()] == [card.id]

    types = feed_types(client, card)
    assert types == ["updateCard"] * 5 + ["createCard"]
    olds = [set(a["data"]["old"]) for a in card.fetch_actions("updateCard")]
    assert olds == [{"closed"}, {"closed"}, {"idList"}, {"desc"}, {"name"}]

    card.delete()
    with pytest.raises(Exception, match="404"):
        client.get_card(card.id)
    assert board.fetch_actions("deleteCard")[0]["data"]["card"]["id"] == card.id


def test_due_dates_and_positions(sandbox: Served, trello: ClientFactory) -> None:
    import datetime as dt

    sb, _ = sandbox
    board = board_of(trello(), sb)
    card = new_card(board)
    card.set_due(dt.datetime(2026, 4, 1, 9, 30, tzinfo=dt.UTC))
    card.fetch()
    assert card.due == "2026-04-01T09:30:00.000Z"
    card.remove_due()
    card.fetch()
    assert card.due == ""
    second = new_card(board, "Second")
    second.set_pos("top")
    todo = board.list_lists()[0]
    assert [c.name for c in todo.list_cards()] == ["Second", "Checkout is down"]


def test_copy_a_card_with_its_checklists(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    template = new_card(board, "Template")
    template.add_checklist("Detect", ["Page the lead", "Open the call"])
    template.add_label(label_named(board, "Support"))
    copy = board.list_lists()[1].add_card("Incident 1", source=template.id)
    assert copy.name == "Incident 1"
    assert [lb.name for lb in copy.labels] == ["Support"]
    checklists = client.fetch_json(f"/cards/{copy.id}/checklists")
    assert [cl["name"] for cl in checklists] == ["Detect"]
    assert [i["name"] for i in checklists[0]["checkItems"]] == ["Page the lead", "Open the call"]
    copied = board.fetch_actions("copyCard")
    assert copied[0]["data"]["cardSource"]["id"] == template.id
    assert copied[0]["data"]["card"]["id"] == copy.id


def test_labels_on_cards(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    card = new_card(board)
    incident = label_named(board, "Incident")
    card.add_label(incident)
    card.fetch()
    assert card.idLabels == [incident.id]
    actions = card.fetch_actions("addLabelToCard,updateCard")
    assert [a["type"] for a in actions[:2]] == ["updateCard", "addLabelToCard"]
    added = actions[1]["data"]
    assert added["label"] == {"id": incident.id, "name": "Incident", "color": "red"}
    assert (added["text"], added["value"]) == ("Incident", "red")
    assert "list" not in added
    assert actions[0]["data"]["old"] == {"idLabels": []}
    assert actions[0]["data"]["card"]["idLabels"] == [incident.id]

    card.remove_label(incident)
    card.fetch()
    assert card.idLabels == []
    removed = card.fetch_actions("removeLabelFromCard")[0]["data"]
    assert removed["label"]["id"] == incident.id

    card.create_label("Sev1", "purple")
    assert "Sev1" in [lb.name for lb in board.get_labels()]
    card.fetch()
    assert [lb.name for lb in card.labels] == ["Sev1"]
    new = board.add_label("Postmortem", "sky")
    assert label_named(board, "Postmortem").id == new.id
    made = client.fetch_json(
        f"/boards/{board.id}/labels",
        http_method="POST",
        post_args={"name": "Comms", "color": "pink"},
    )
    assert made["idBoard"] == board.id


def test_members_on_cards(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    card = new_card(board)
    alice = client.get_member("alice")
    card.add_member(alice)
    card.assign(sb.members["bob"].id)
    card.fetch()
    assert card.idMembers == [alice.id, sb.members["bob"].id]
    members = client.fetch_json(f"/cards/{card.id}/members")
    assert [m["username"] for m in members] == ["alice", "bob"]
    card.remove_member(alice)
    card.fetch()
    assert card.idMembers == [sb.members["bob"].id]
    added, removed = (
        card.fetch_actions("addMemberToCard")[-1],
        card.fetch_actions("removeMemberFromCard")[0],
    )
    assert added["data"]["idMember"] == alice.id
    assert added["data"]["member"] == {"id": alice.id, "name": alice.full_name}
    assert added["member"]["username"] == "alice"
    assert removed["data"]["member"]["id"] == alice.id


def test_comments(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    worker, alice = trello(), trello("alice")
    board = board_of(worker, sb)
    card = new_card(board)
    posted = card.comment("@alice you are the lead")
    assert posted["type"] == "commentCard"
    assert posted["data"]["text"] == "@alice you are the lead"
    as_alice = alice.get_card(card.id)
    reply = as_alice.comment("on it")
    card.fetch()
    comments = card.comments
    assert [(c["data"]["text"], c["memberCreator"]["username"]) for c in comments] == [
        ("@alice you are the lead", "incident-worker"),
        ("on it", "alice"),
    ]
    card.update_comment(posted["id"], "@alice you lead this one")
    assert (
        worker.fetch_json(f"/actions/{posted['id']}")["data"]["text"] == "@alice you lead this one"
    )
    edit = board.fetch_actions("updateComment")[0]["data"]
    assert edit["old"] == {"text": "@alice you are the lead"}
    assert edit["action"] == {"id": posted["id"], "text": "@alice you lead this one"}
    worker.fetch_json(
        f"/cards/{card.id}/actions/{posted['id']}/comments",
        http_method="PUT",
        post_args={"text": "edited again"},
    )
    assert worker.fetch_json(f"/actions/{posted['id']}")["data"]["text"] == "edited again"
    card.delete_comment(reply)
    worker.fetch_json(f"/actions/{posted['id']}", http_method="DELETE")
    assert card.get_comments() == []
    assert [a["type"] for a in board.fetch_actions("deleteComment")] == ["deleteComment"] * 2


def test_checklists_through_py_trello(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    card = new_card(board)
    checklist = card.add_checklist("Communicate", ["Tell support", "Tell buyers"], [False, True])
    assert [i["state"] for i in checklist.items] == ["incomplete", "complete"]
    ticked = checklist.set_checklist_item("Tell support", True)
    assert ticked["state"] == "complete"
    checklist.rename("Communication")
    fetched = client.fetch_json(f"/checklists/{checklist.id}")
    assert fetched["name"] == "Communication"
    assert [i["state"] for i in fetched["checkItems"]] == ["complete", "complete"]
    card.fetch()
    assert (card.badges["checkItems"], card.badges["checkItemsChecked"]) == (2, 2)
    assert [cl.name for cl in board.get_checklists()] == ["Communication"]

    state = card.fetch_actions("updateCheckItemStateOnCard")[0]["data"]
    assert state["checkItem"]["name"] == "Tell support"
    assert state["checkItem"]["state"] == "complete"
    assert state["checklist"] == {"id": checklist.id, "name": "Communicate"}
    assert "list" not in state

    checklist.delete_checklist_item("Tell buyers")
    assert [i["name"] for i in client.fetch_json(f"/checklists/{checklist.id}")["checkItems"]] == [
        "Tell support"
    ]
    checklist.delete()
    assert client.fetch_json(f"/cards/{card.id}/checklists") == []
    assert (
        card.fetch_actions("removeChecklistFromCard")[0]["data"]["checklist"]["id"] == checklist.id
    )


def test_copy_checklist_and_tick_by_fetch_json(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    template, card = new_card(board, "Template"), new_card(board, "Incident")
    source = template.add_checklist("Resolve", ["Fix", "Verify", "Announce"], [True, True, False])
    copy = client.fetch_json(
        "/checklists",
        http_method="POST",
        post_args={"idCard": card.id, "idChecklistSource": source.id, "pos": "bottom"},
    )
    assert copy["name"] == "Resolve"
    assert copy["idCard"] == card.id
    assert [(i["name"], i["state"]) for i in copy["checkItems"]] == [
        ("Fix", "incomplete"),
        ("Verify", "incomplete"),
        ("Announce", "incomplete"),
    ]
    item = copy["checkItems"][1]
    ticked = client.fetch_json(
        f"/cards/{card.id}/checkItem/{item['id']}",
        http_method="PUT",
        post_args={"state": "complete"},
    )
    assert ticked["state"] == "complete"
    untick = client.fetch_json(
        f"/cards/{card.id}/checklist/{copy['id']}/checkItem/{item['id']}",
        http_method="PUT",
        post_args={"state": False, "name": "Verify the fix"},
    )
    assert (untick["state"], untick["name"]) == ("incomplete", "Verify the fix")
    added = client.fetch_json(
        f"/checklists/{copy['id']}/checkItems",
        http_method="POST",
        post_args={"name": "Write it up", "pos": "top", "checked": "true"},
    )
    assert added["state"] == "complete"
    names = [i["name"] for i in client.fetch_json(f"/checklists/{copy['id']}")["checkItems"]]
    assert names[0] == "Write it up"
    client.fetch_json(f"/checklists/{copy['id']}/name", http_method="PUT", post_args={"value": "R"})
    assert client.fetch_json(f"/checklists/{copy['id']}")["name"] == "R"
    with_lists = client.fetch_json(f"/cards/{card.id}", query_params={"checklists": "all"})
    assert [cl["id"] for cl in with_lists["checklists"]] == [copy["id"]]


def test_attachments(sandbox: Served, trello: ClientFactory, http: requests.Session) -> None:
    sb, _ = sandbox
    client = trello()
    card = new_card(board_of(client, sb))
    link = card.attach(name="Dashboard", url="https://grafana.example/d/1")
    assert (link["name"], link["url"], link["isUpload"]) == (
        "Dashboard",
        "https://grafana.example/d/1",
        False,
    )
    upload = card.attach(
        name="postmortem.md", file=io.BytesIO(b"# Post-mortem\n"), mimeType="text/markdown"
    )
    assert upload["isUpload"] is True
    assert upload["bytes"] == len(b"# Post-mortem\n")
    names = [a.name for a in card.get_attachments()]
    assert names == ["Dashboard", "postmortem.md"]
    key, token = sb.api_key, sb.members["worker"].token
    with http.get(upload["url"], params={"key": key, "token": token}) as response:
        assert response.status_code == 200
        assert response.content == b"# Post-mortem\n"
    card.remove_attachment(link["id"])
    assert [a.name for a in card.get_attachments()] == ["postmortem.md"]
    kinds = [a["type"] for a in card.fetch_actions("addAttachmentToCard,deleteAttachmentFromCard")]
    assert kinds == ["deleteAttachmentFromCard", "addAttachmentToCard", "addAttachmentToCard"]
    with_attachments = client.fetch_json(f"/cards/{card.id}", query_params={"attachments": "true"})
    assert [a["name"] for a in with_attachments["attachments"]] == ["postmortem.md"]


def test_lists(sandbox: Served, trello: ClientFactory) -> None:
    sb, _ = sandbox
    client = trello()
    board = board_of(client, sb)
    review = board.add_list("Review")
    assert isinstance(review, List)
    assert [lst.name for lst in board.list_lists()][-1] == "Review"
    review.close()
    assert "Review" not in [lst.name for lst in board.open_lists()]
    assert [lst.name for lst in board.closed_lists()] == ["Review"]
    assert client.get_list(review.id).closed is True
    assert [a["type"] for a in board.fetch_actions("createList,updateList")] == [
        "updateList",
        "createList",
    ]


def test_plain_session_uses_query_parameter_auth(
    sandbox: Served, plain_trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = plain_trello("carol")
    board = board_of(client, sb)
    card = new_card(board)
    card.comment("query-string auth works")
    assert board.fetch_actions("commentCard")[0]["memberCreator"]["username"] == "carol"
    assert {entry.member_username for entry in sb.request_log} == {"carol"}
