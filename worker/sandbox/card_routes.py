"""Routes for cards and what hangs off them: labels, members, comments, the card's actions
feed, attachments, checklists and check items (`/1/cards`, `/1/checklists`, `/1/actions`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from worker.sandbox import feed, render
from worker.sandbox.app import Context, Params
from worker.sandbox.model import Card, Checklist
from worker.sandbox.routing import DELETED, actions_page, card_json, required, route
from worker.sandbox.state import BadRequest, NotFound

CARD_FIELDS = (
    "name",
    "desc",
    "idList",
    "closed",
    "due",
    "dueComplete",
    "start",
    "pos",
    "idLabels",
    "idMembers",
)
IGNORED_CARD_FIELDS = ("subscribed", "dueReminder", "idAttachmentCover", "address", "coordinates")


# -- cards -----------------------------------------------------------------------------------


def _card_change(params: Params, field: str, source: str) -> Any:
    """The typed value of card field `field`, read from parameter `source`."""
    if field in ("closed", "dueComplete"):
        value = params.flag(source)
        if value is None:
            raise BadRequest(f"invalid value for {field}")
        return value
    if field in ("due", "start"):
        return params.date(source)
    if field in ("idLabels", "idMembers"):
        return params.ids(source) or []
    if field == "pos":
        return params.raw(source)
    if field == "desc":
        return params.text(source) or ""
    return required(params, source)


@route("/cards", "POST")
def create_card(ctx: Context) -> Any:
    p = ctx.params
    with ctx.state.lock:
        lst = ctx.state.trello_list(required(p, "idList"))
        source_id = p.text("idCardSource")
        source = ctx.state.card(source_id) if source_id else None
        keep = p.ids("keepFromSource")
        card = ctx.state.create_card(
            lst,
            ctx.actor,
            name=p.text("name"),
            desc=p.text("desc"),
            label_ids=p.ids("idLabels"),
            member_ids=p.ids("idMembers"),
            due=p.date("due"),
            pos=p.raw("pos"),
            source=source,
            keep=frozenset(["all"] if keep is None else keep),
        )
        return card_json(ctx, card)


@route("/cards/<card_id>", "GET")
def get_card(ctx: Context, card_id: str) -> Any:
    p = ctx.params
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        body = card_json(ctx, card)
        actions_filter = p.text("actions")
        if actions_filter not in (None, "none", ""):
            chosen = feed.select(
                ctx.state.card_actions(card.id),
                filter_value=actions_filter,
                default_filter=feed.BOARD_DEFAULT_FILTER,
                since=None,
                before=None,
                limit=p.text("actions_limit"),
                page=None,
            )
            body["actions"] = [render.action(action, ctx.state) for action in chosen]
        if p.flag("attachments") if "attachments" in p else False:
            body["attachments"] = _attachments(ctx, card)
        if p.flag("members") if "members" in p else False:
            body["members"] = [
                render.member_creator(ctx.state.find_member(mid)) for mid in card.member_ids
            ]
        return body


@route("/cards/<card_id>", "PUT")
def update_card(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        changes = {f: _card_change(ctx.params, f, f) for f in CARD_FIELDS if f in ctx.params}
        ctx.state.update_card(card, ctx.actor, changes)
        return card_json(ctx, card)


@route("/cards/<card_id>/<field>", "PUT")
def update_card_field(ctx: Context, card_id: str, field: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        if field in CARD_FIELDS:
            changes = {field: _card_change(ctx.params, field, "value")}
            ctx.state.update_card(card, ctx.actor, changes)
        elif field not in IGNORED_CARD_FIELDS:
            raise NotFound(f"Cannot PUT /1/cards/{card_id}/{field}")
        return card_json(ctx, card)


@route("/cards/<card_id>", "DELETE")
def delete_card(ctx: Context, card_id: str) -> Any:
    ctx.state.delete_card(ctx.state.card(card_id), ctx.actor)
    return {"limits": {}}


@route("/cards/<card_id>/idLabels", "POST")
def add_card_label(ctx: Context, card_id: str) -> Any:
    card = ctx.state.card(card_id)
    return ctx.state.add_card_label(card, ctx.actor, ctx.state.label(required(ctx.params, "value")))


@route("/cards/<card_id>/idLabels/<label_id>", "DELETE")
def remove_card_label(ctx: Context, card_id: str, label_id: str) -> Any:
    card = ctx.state.card(card_id)
    return ctx.state.remove_card_label(card, ctx.actor, ctx.state.label(label_id))


@route("/cards/<card_id>/labels", "POST")
def create_card_label(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        board = ctx.state.board(card.board_id)
        name, color = ctx.params.text("name") or "", ctx.params.text("color")
        label = ctx.state.create_label(board, ctx.actor, name, color)
        ctx.state.add_card_label(card, ctx.actor, label)
        return render.label(label)


@route("/cards/<card_id>/idMembers", "POST")
@route("/cards/<card_id>/members", "POST")
def add_card_member(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        member = ctx.state.find_member(required(ctx.params, "value"))
        ctx.state.add_card_member(card, ctx.actor, member)
        return card_members(ctx, card_id)


@route("/cards/<card_id>/idMembers/<member_id>", "DELETE")
def remove_card_member(ctx: Context, card_id: str, member_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        ctx.state.remove_card_member(card, ctx.actor, ctx.state.find_member(member_id))
        return card_members(ctx, card_id)


@route("/cards/<card_id>/members", "GET")
def card_members(ctx: Context, card_id: str) -> Any:
    card = ctx.state.card(card_id)
    return [render.board_member(ctx.state.find_member(mid)) for mid in card.member_ids]


@route("/cards/<card_id>/actions", "GET")
def card_actions(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        return actions_page(ctx, ctx.state.card_actions(card.id), feed.CARD_DEFAULT_FILTER)


@route("/cards/<card_id>/actions/comments", "POST")
def add_comment(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        action = ctx.state.comment(card, ctx.actor, ctx.params.text("text") or "")
        return render.action(action, ctx.state)


@route("/actions/<action_id>", "PUT")
@route("/cards/<card_id>/actions/<action_id>/comments", "PUT")
def edit_comment(ctx: Context, action_id: str, card_id: str | None = None) -> Any:
    with ctx.state.lock:
        text = ctx.params.text("text") or ctx.params.text("value") or ""
        action = ctx.state.edit_comment(action_id, ctx.actor, text)
        return render.action(action, ctx.state)


@route("/actions/<action_id>", "DELETE")
@route("/cards/<card_id>/actions/<action_id>/comments", "DELETE")
def delete_comment(ctx: Context, action_id: str, card_id: str | None = None) -> Any:
    ctx.state.delete_comment(action_id, ctx.actor)
    return DELETED


@route("/actions/<action_id>", "GET")
def get_action(ctx: Context, action_id: str) -> Any:
    with ctx.state.lock:
        return render.action(ctx.state.action(action_id), ctx.state)


@route("/cards/<card_id>/pluginData", "GET")
@route("/cards/<card_id>/customFieldItems", "GET")
def card_empty_list(ctx: Context, card_id: str) -> Any:
    ctx.state.card(card_id)
    return []


# -- attachments -----------------------------------------------------------------------------


def _attachments(ctx: Context, card: Card) -> list[dict[str, Any]]:
    return [
        render.attachment(ctx.state.attachments[aid], ctx.base_url) for aid in card.attachment_ids
    ]


@route("/cards/<card_id>/attachments", "GET")
def card_attachments(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        return _attachments(ctx, ctx.state.card(card_id))


@route("/cards/<card_id>/attachments", "POST")
def add_attachment(ctx: Context, card_id: str) -> Any:
    card = ctx.state.card(card_id)
    upload = ctx.request.files.get("file")
    p = ctx.params
    if upload is not None:
        content = upload.read()
        file_name = upload.filename or "file"
        attachment = ctx.state.add_attachment(
            card,
            ctx.actor,
            name=p.text("name") or file_name,
            url=None,
            mime_type=p.text("mimeType") or upload.mimetype,
            content=content,
            file_name=file_name,
        )
    else:
        attachment = ctx.state.add_attachment(
            card,
            ctx.actor,
            name=p.text("name"),
            url=required(p, "url"),
            mime_type=p.text("mimeType"),
        )
    return render.attachment(attachment, ctx.base_url)


@route("/cards/<card_id>/attachments/<attachment_id>", "GET")
def get_attachment(ctx: Context, card_id: str, attachment_id: str) -> Any:
    card = ctx.state.card(card_id)
    return render.attachment(ctx.state.attachment(card, attachment_id), ctx.base_url)


@route("/cards/<card_id>/attachments/<attachment_id>", "DELETE")
def delete_attachment(ctx: Context, card_id: str, attachment_id: str) -> Any:
    card = ctx.state.card(card_id)
    ctx.state.delete_attachment(card, ctx.state.attachment(card, attachment_id), ctx.actor)
    return DELETED


@route("/cards/<card_id>/attachments/<attachment_id>/download/<name>", "GET")
def download_attachment(ctx: Context, card_id: str, attachment_id: str, name: str) -> Any:
    attachment = ctx.state.attachment(ctx.state.card(card_id), attachment_id)
    if attachment.content is None or name != attachment.file_name:
        raise NotFound()
    mimetype = attachment.mime_type or "application/octet-stream"
    return Response(attachment.content, mimetype=mimetype)


# -- checklists ------------------------------------------------------------------------------


@route("/cards/<card_id>/checklists", "GET")
def card_checklists(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        return [render.checklist(cl) for cl in ctx.state.card_checklists(card)]


def _new_checklist(ctx: Context, card: Card) -> Any:
    p = ctx.params
    source_id = p.text("idChecklistSource")
    source = ctx.state.checklist(source_id) if source_id else None
    checklist = ctx.state.add_checklist(card, ctx.actor, p.text("name"), p.raw("pos"), source)
    return render.checklist(checklist)


@route("/cards/<card_id>/checklists", "POST")
def add_card_checklist(ctx: Context, card_id: str) -> Any:
    with ctx.state.lock:
        return _new_checklist(ctx, ctx.state.card(card_id))


@route("/checklists", "POST")
def add_checklist(ctx: Context) -> Any:
    with ctx.state.lock:
        return _new_checklist(ctx, ctx.state.card(required(ctx.params, "idCard")))


@route("/checklists/<checklist_id>", "GET")
def get_checklist(ctx: Context, checklist_id: str) -> Any:
    with ctx.state.lock:
        return render.checklist(ctx.state.checklist(checklist_id))


@route("/checklists/<checklist_id>/checkItems", "GET")
def get_check_items(ctx: Context, checklist_id: str) -> Any:
    with ctx.state.lock:
        return render.checklist(ctx.state.checklist(checklist_id))["checkItems"]


@route("/checklists/<checklist_id>", "DELETE")
def delete_checklist(ctx: Context, checklist_id: str) -> Any:
    ctx.state.delete_checklist(ctx.state.checklist(checklist_id), ctx.actor)
    return DELETED


@route("/checklists/<checklist_id>/name", "PUT")
def rename_checklist(ctx: Context, checklist_id: str) -> Any:
    with ctx.state.lock:
        checklist = ctx.state.checklist(checklist_id)
        name = ctx.params.text("value") or ctx.params.text("name") or ""
        return render.checklist(ctx.state.rename_checklist(checklist, ctx.actor, name))


@route("/checklists/<checklist_id>/checkItems", "POST")
def add_check_item(ctx: Context, checklist_id: str) -> Any:
    with ctx.state.lock:
        checklist = ctx.state.checklist(checklist_id)
        p = ctx.params
        checked = bool(p.flag("checked")) if "checked" in p else False
        name = required(p, "name")
        item = ctx.state.add_check_item(checklist, ctx.actor, name, p.raw("pos"), checked)
        return render.check_item(item)


@route("/checklists/<checklist_id>/checkItems/<item_id>", "DELETE")
def delete_check_item(ctx: Context, checklist_id: str, item_id: str) -> Any:
    with ctx.state.lock:
        checklist = ctx.state.checklist(checklist_id)
        item = ctx.state.check_item(item_id, checklist)
        ctx.state.delete_check_item(checklist, item, ctx.actor)
        return DELETED


def _update_item(ctx: Context, card: Card, checklist: Checklist, item_id: str) -> Any:
    if checklist.card_id != card.id:
        raise NotFound()
    item = ctx.state.check_item(item_id, checklist)
    p = ctx.params
    changes: dict[str, Any] = {}
    if "state" in p:
        state = p.flag("state")
        if state is None:
            raise BadRequest("invalid value for state")
        changes["state"] = "complete" if state else "incomplete"
    if "name" in p:
        changes["name"] = required(p, "name")
    if "pos" in p:
        changes["pos"] = p.raw("pos")
    if "due" in p:
        changes["due"] = p.date("due")
    if "idMember" in p:
        changes["idMember"] = p.text("idMember")
    return render.check_item(ctx.state.update_check_item(checklist, item, ctx.actor, changes))


@route("/cards/<card_id>/checkItem/<item_id>", "PUT")
def update_check_item(ctx: Context, card_id: str, item_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        item = ctx.state.check_item(item_id)
        return _update_item(ctx, card, ctx.state.checklist(item.checklist_id), item_id)


@route("/cards/<card_id>/checklist/<checklist_id>/checkItem/<item_id>", "PUT")
def update_check_item_in(ctx: Context, card_id: str, checklist_id: str, item_id: str) -> Any:
    with ctx.state.lock:
        card = ctx.state.card(card_id)
        return _update_item(ctx, card, ctx.state.checklist(checklist_id), item_id)
