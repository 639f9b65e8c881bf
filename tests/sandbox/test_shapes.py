"""The sandbox's JSON has the keys of recorded real Trello payloads.

The expected key sets below were read off the recorded Trello responses and webhook actions in
rwjdk/TrelloDotNet `src/TrelloDotNet.Tests/SampleJson/` (BoardActions.json, GetCardExample.json,
Checklists.json, WebhookEvents/AddLabel_Part1+2, ChecklistItemChecked, MoveCardFromListToList,
AddMember, AddChecklist, Objects/ReturnValueFromAddComment). Webhook copies also carry
`display`, which the REST feed (BoardActions.json) does not, so it is not expected here.
"""

from __future__ import annotations

from typing import Any

from tests.sandbox.conftest import ClientFactory
from worker.sandbox import Sandbox, SandboxServer

ACTION_KEYS = {
    "id",
    "idMemberCreator",
    "data",
    "appCreator",
    "type",
    "date",
    "limits",
    "memberCreator",
}
MEMBER_CREATOR_KEYS = {
    "id", "activityBlocked", "avatarHash", "avatarUrl", "fullName", "idMemberReferrer",
    "initials", "nonPublic", "nonPublicAvailable", "username",
}  # fmt: skip
CARD_REF = {"id", "name", "idShort", "shortLink"}
BOARD_REF = {"id", "name", "shortLink"}
LIST_REF = {"id", "name"}

ADD_LABEL_DATA = {"value", "text", "card", "board", "label"}
LABEL_REF = {"id", "name", "color"}
LABELS_UPDATE_DATA = {"card", "old", "board", "list"}
CHECK_ITEM_STATE_DATA = {"board", "card", "checklist", "checkItem"}
CHECK_ITEM_REF = {"id", "name", "state", "textData"}
CHECKLIST_REF = {"id", "name"}
COMMENT_DATA = {"text", "textData", "card", "board", "list"}
MOVE_DATA = {"card", "old", "board", "listBefore", "listAfter"}
ADD_MEMBER_DATA = {"idMember", "card", "board", "member"}
ADD_CHECKLIST_DATA = {"card", "checklist", "board"}
CARD_KEYS = {
    "badges", "cardRole", "checkItemStates", "closed", "cover", "dateLastActivity", "desc",
    "descData", "due", "dueComplete", "dueReminder", "email", "id", "idAttachmentCover",
    "idBoard", "idChecklists", "idLabels", "idList", "idMembers", "idMembersVoted", "idShort",
    "isTemplate", "labels", "manualCoverAttachment", "name", "pos", "shortLink", "shortUrl",
    "start", "subscribed", "url",
}  # fmt: skip
BADGE_KEYS = {
    "attachmentsByType", "location", "votes", "viewingMemberVoted", "subscribed", "fogbugz",
    "checkItems", "checkItemsChecked", "checkItemsEarliestDue", "comments", "attachments",
    "description", "due", "dueComplete", "start",
}  # fmt: skip
CHECKLIST_KEYS = {"id", "name", "idBoard", "idCard", "pos", "checkItems"}
CHECK_ITEM_KEYS = {
    "id",
    "name",
    "nameData",
    "pos",
    "due",
    "dueReminder",
    "idMember",
    "idChecklist",
    "state",
}
LIST_KEYS = {"id", "name", "closed", "idBoard", "pos", "subscribed", "softLimit"}
LABEL_KEYS = {"id", "idBoard", "name", "color"}


def by_type(actions: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(action for action in actions if action["type"] == kind)


def test_action_shapes_match_recorded_trello(
    sandbox: tuple[Sandbox, SandboxServer], trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = trello()
    board = client.get_board(sb.board_ids[0])
    todo, doing, _ = board.list_lists()
    card = todo.add_card("Checkout is down")
    card.add_label(board.get_labels()[0])
    card.comment("we are on it")
    checklist = card.add_checklist("Detect", ["Page the lead"])
    checklist.set_checklist_item("Page the lead", True)
    card.add_member(client.get_member("alice"))
    card.change_list(doing.id)
    actions = board.fetch_actions("all")

    for action in actions:
        extra = {"member"} if action["type"] == "addMemberToCard" else set()
        assert set(action) == ACTION_KEYS | extra, action["type"]
        assert set(action["memberCreator"]) == MEMBER_CREATOR_KEYS
        assert action["date"].endswith("Z") and len(action["date"]) == 24

    label = by_type(actions, "addLabelToCard")["data"]
    assert set(label) == ADD_LABEL_DATA
    assert set(label["label"]) == LABEL_REF
    assert set(label["card"]) == CARD_REF
    assert set(label["board"]) == BOARD_REF

    labels_update = next(
        a for a in actions if a["type"] == "updateCard" and "idLabels" in a["data"]["old"]
    )
    assert set(labels_update["data"]) == LABELS_UPDATE_DATA
    assert set(labels_update["data"]["card"]) == CARD_REF | {"idLabels"}

    state = by_type(actions, "updateCheckItemStateOnCard")["data"]
    assert set(state) == CHECK_ITEM_STATE_DATA
    assert set(state["checkItem"]) == CHECK_ITEM_REF
    assert set(state["checklist"]) == CHECKLIST_REF

    comment = by_type(actions, "commentCard")["data"]
    assert set(comment) == COMMENT_DATA
    assert set(comment["list"]) == LIST_REF

    move = next(a for a in actions if a["type"] == "updateCard" and "listAfter" in a["data"])
    assert set(move["data"]) == MOVE_DATA
    assert set(move["data"]["card"]) == CARD_REF | {"idList"}
    assert move["data"]["old"] == {"idList": todo.id}
    assert move["data"]["listBefore"] == {"id": todo.id, "name": "To Do"}
    assert move["data"]["listAfter"] == {"id": doing.id, "name": "Doing"}

    member = by_type(actions, "addMemberToCard")
    assert set(member["data"]) == ADD_MEMBER_DATA
    assert set(member["member"]) == MEMBER_CREATOR_KEYS
    assert set(by_type(actions, "addChecklistToCard")["data"]) == ADD_CHECKLIST_DATA


def test_object_shapes_match_recorded_trello(
    sandbox: tuple[Sandbox, SandboxServer], trello: ClientFactory
) -> None:
    sb, _ = sandbox
    client = trello()
    board_id = sb.board_ids[0]
    lists = client.fetch_json(f"/boards/{board_id}/lists")
    assert all(set(lst) == LIST_KEYS for lst in lists)
    labels = client.fetch_json(f"/boards/{board_id}/labels")
    assert all(set(label) == LABEL_KEYS for label in labels)
    card = client.fetch_json(
        "/cards", http_method="POST", post_args={"idList": lists[0]["id"], "name": "c"}
    )
    assert set(card) >= CARD_KEYS
    assert set(card["badges"]) == BADGE_KEYS
    checklist = client.fetch_json(
        f"/cards/{card['id']}/checklists", http_method="POST", post_args={"name": "Detect"}
    )
    client.fetch_json(
        f"/checklists/{checklist['id']}/checkItems", http_method="POST", post_args={"name": "x"}
    )
    fetched = client.fetch_json(f"/checklists/{checklist['id']}")
    assert set(fetched) == CHECKLIST_KEYS
    assert set(fetched["checkItems"][0]) == CHECK_ITEM_KEYS
    with_fields = client.fetch_json(
        f"/cards/{card['id']}", query_params={"fields": "name,idList", "customFieldItems": "true"}
    )
    assert set(with_fields) == {"id", "name", "idList", "customFieldItems"}
