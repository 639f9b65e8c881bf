"""Sandbox records -> Trello's JSON, with the fields and shapes Trello itself returns.

The shapes follow recorded Trello payloads (board, list, label, card, checklist, member and
action objects); every field py-trello's `from_json`/`fetch` methods read is present. Nested
references inside action `data` (`card`, `board`, `list`...) are built by the writes when the
action is recorded, because Trello freezes them at that moment too. A card and an action are
rendered from `Records`: what they read of the state (a `store.Store` or a `SandboxState`).
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from worker.sandbox.model import (
    Action,
    Attachment,
    Board,
    Card,
    CheckItem,
    Checklist,
    Label,
    Member,
    TrelloList,
    Webhook,
    iso,
    slug,
)

JSON = dict[str, Any]
LABEL_COLORS = (
    "green",
    "yellow",
    "orange",
    "red",
    "purple",
    "blue",
    "sky",
    "lime",
    "pink",
    "black",
)


class Records(Protocol):
    """What rendering a card or an action reads of the state."""

    @property
    def members(self) -> dict[str, Member]: ...

    @property
    def labels(self) -> dict[str, Label]: ...

    @property
    def checklists(self) -> dict[str, Checklist]: ...

    def card_actions(self, card_id: str) -> list[Action]: ...


def member_creator(member: Member) -> JSON:
    """The member object Trello embeds in actions (`memberCreator`, `member`)."""
    return {
        "id": member.id,
        "activityBlocked": False,
        "avatarHash": None,
        "avatarUrl": None,
        "fullName": member.full_name,
        "idMemberReferrer": None,
        "initials": member.initials,
        "nonPublic": {},
        "nonPublicAvailable": True,
        "username": member.username,
    }


def member(record: Member, board_ids: list[str]) -> JSON:
    """`GET /members/{id}`: the full member object."""
    return {
        **member_creator(record),
        "bio": "",
        "confirmed": True,
        "email": None,
        "idBoards": board_ids,
        "memberType": "normal",
        "status": "disconnected",
        "url": f"https://trello.com/{record.username}",
    }


def board_member(record: Member) -> JSON:
    """`GET /boards/{id}/members`: id, fullName and username."""
    return {"id": record.id, "fullName": record.full_name, "username": record.username}


def board(record: Board, labels: list[Label]) -> JSON:
    names = {color: "" for color in LABEL_COLORS}
    for label in labels:
        if label.color in names and not names[label.color]:
            names[label.color] = label.name
    return {
        "id": record.id,
        "name": record.name,
        "desc": record.desc,
        "descData": None,
        "closed": record.closed,
        "idOrganization": None,
        "idEnterprise": None,
        "pinned": False,
        "url": f"https://trello.com/b/{record.short_link}/{slug(record.name)}",
        "shortUrl": f"https://trello.com/b/{record.short_link}",
        "shortLink": record.short_link,
        "prefs": {"permissionLevel": "private", "comments": "members", "isTemplate": False},
        "labelNames": names,
    }


def trello_list(record: TrelloList) -> JSON:
    return {
        "id": record.id,
        "name": record.name,
        "closed": record.closed,
        "idBoard": record.board_id,
        "pos": record.pos,
        "subscribed": False,
        "softLimit": None,
    }


def label(record: Label) -> JSON:
    return {
        "id": record.id,
        "idBoard": record.board_id,
        "name": record.name,
        "color": record.color,
    }


def check_item(record: CheckItem) -> JSON:
    return {
        "id": record.id,
        "name": record.name,
        "nameData": {"emoji": {}},
        "pos": record.pos,
        "due": record.due,
        "dueReminder": None,
        "idMember": record.id_member,
        "idChecklist": record.checklist_id,
        "state": record.state,
    }


def checklist(record: Checklist) -> JSON:
    items = sorted(record.items, key=lambda item: item.pos)
    return {
        "id": record.id,
        "name": record.name,
        "idBoard": record.board_id,
        "idCard": record.card_id,
        "pos": record.pos,
        "checkItems": [check_item(item) for item in items],
    }


def attachment(record: Attachment, base_url: str) -> JSON:
    url = record.url
    if record.is_upload:
        url = (
            f"{base_url}/cards/{record.card_id}/attachments/{record.id}/download/{record.file_name}"
        )
    return {
        "id": record.id,
        "bytes": len(record.content) if record.content is not None else None,
        "date": iso(record.date),
        "edgeColor": None,
        "idMember": record.member_id,
        "isUpload": record.is_upload,
        "mimeType": record.mime_type or "",
        "name": record.name,
        "previews": [],
        "url": url,
        "pos": 16384,
        "fileName": record.file_name or None,
    }


def card(record: Card, state: Records) -> JSON:
    """A card as `GET /cards/{id}` returns it (the caller holds the state's lock)."""
    checklists = [state.checklists[cid] for cid in record.checklist_ids]
    items = [item for cl in checklists for item in cl.items]
    checked = [item for item in items if item.state == "complete"]
    comments = sum(1 for action in state.card_actions(record.id) if action.type == "commentCard")
    labels = [state.labels[lid] for lid in record.label_ids if lid in state.labels]
    return {
        "id": record.id,
        "badges": {
            "attachmentsByType": {"trello": {"board": 0, "card": 0}},
            "location": False,
            "votes": 0,
            "viewingMemberVoted": False,
            "subscribed": False,
            "fogbugz": "",
            "checkItems": len(items),
            "checkItemsChecked": len(checked),
            "checkItemsEarliestDue": None,
            "comments": comments,
            "attachments": len(record.attachment_ids),
            "description": bool(record.desc),
            "due": record.due,
            "dueComplete": record.due_complete,
            "start": record.start,
        },
        "checkItemStates": [{"idCheckItem": item.id, "state": "complete"} for item in checked],
        "closed": record.closed,
        "dueComplete": record.due_complete,
        "dateLastActivity": iso(record.date_last_activity),
        "desc": record.desc,
        "descData": {"emoji": {}},
        "due": record.due,
        "dueReminder": None,
        "email": None,
        "idBoard": record.board_id,
        "idChecklists": list(record.checklist_ids),
        "idList": record.list_id,
        "idMembers": list(record.member_ids),
        "idMembersVoted": [],
        "idShort": record.id_short,
        "idAttachmentCover": None,
        "labels": [label(item) for item in labels],
        "idLabels": list(record.label_ids),
        "manualCoverAttachment": False,
        "name": record.name,
        "pos": record.pos,
        "shortLink": record.short_link,
        "shortUrl": f"https://trello.com/c/{record.short_link}",
        "start": record.start,
        "subscribed": False,
        "url": f"https://trello.com/c/{record.short_link}/{record.id_short}-{slug(record.name)}",
        "cover": {
            "idAttachment": None,
            "color": None,
            "idUploadedBackground": None,
            "size": "normal",
            "brightness": "dark",
            "idPlugin": None,
        },
        "isTemplate": False,
        "cardRole": None,
    }


#: How Trello's web app words each kind of action (`display.translationKey`).
TRANSLATION_KEYS = {
    "commentCard": "action_comment_on_card",
    "createCard": "action_create_card",
    "copyCard": "action_copy_card",
    "addLabelToCard": "action_add_label_to_card",
    "removeLabelFromCard": "action_remove_label_from_card",
    "addMemberToCard": "action_add_member_to_card",
    "addChecklistToCard": "action_add_checklist_to_card",
    "addAttachmentToCard": "action_add_attachment_to_card",
    "deleteCard": "action_delete_card",
}


def display(record: Action, state: Records) -> JSON:
    """How the web app words the action, as recorded webhook deliveries carry it."""
    creator = state.members[record.member_id]
    entities: JSON = {
        "memberCreator": {
            "type": "member",
            "id": creator.id,
            "username": creator.username,
            "text": creator.full_name,
        }
    }
    card = record.data.get("card")
    if isinstance(card, dict):
        entities["card"] = {"type": "card", **card, "text": card.get("name", "")}
    key = TRANSLATION_KEYS.get(record.type, "unknown")
    if record.type == "updateCard":
        key = "action_move_card_from_list_to_list" if "listAfter" in record.data else key
    return {"translationKey": key, "entities": entities}


def action(record: Action, state: Records) -> JSON:
    """An action as the feeds return it (the caller holds the state's lock)."""
    body: JSON = {
        "id": record.id,
        "idMemberCreator": record.member_id,
        "data": copy.deepcopy(record.data),
        "appCreator": None,
        "type": record.type,
        "date": iso(record.date),
        "limits": None,
        "memberCreator": member_creator(state.members[record.member_id]),
    }
    if record.subject_member_id is not None:
        body["member"] = member_creator(state.members[record.subject_member_id])
    if record.type == "commentCard":
        body["limits"] = {
            "reactions": {
                "perAction": {"status": "ok", "disableAt": 900, "warnAt": 720},
                "uniquePerAction": {"status": "ok", "disableAt": 17, "warnAt": 14},
            }
        }
    return body


def webhook_ref(record: Webhook) -> JSON:
    """The webhook as a delivery's `webhook` key carries it."""
    return {
        "id": record.id,
        "description": record.description,
        "idModel": record.id_model,
        "callbackURL": record.callback_url,
        "active": record.active,
    }


def webhook(record: Webhook) -> JSON:
    """`GET /webhooks/{id}`, and the answer to creating or updating one."""
    first_fail = record.first_consecutive_fail_date
    return {
        **webhook_ref(record),
        "consecutiveFailures": record.consecutive_failures,
        "firstConsecutiveFailDate": iso(first_fail) if first_fail else None,
    }


def pick_fields(body: JSON, fields: str | None) -> JSON:
    """`fields=a,b`: only those keys (and `id`); `all` or nothing: everything."""
    if not fields or fields == "all":
        return body
    wanted = {name.strip() for name in fields.split(",")} | {"id"}
    return {key: value for key, value in body.items() if key in wanted}
