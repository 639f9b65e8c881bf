"""Routes for cards and what hangs off them: labels, members, comments, the card's actions
feed, attachments, checklists and check items (`/1/cards`, `/1/checklists`, `/1/actions`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from worker.sandbox import feed, render
from worker.sandbox.app import Context, Params
from worker.sandbox.model import Card, Checklist
from worker.sandbox.replies import DELETED, actions_page, card_json, required
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


def create_card(ctx: Context) -> Any:
    p = ctx.params
    with ctx.records.lock:
        lst = ctx.records.trello_list(required(p, "idList"))
        source_id = p.text("idCardSource")
        source = ctx.records.card(source_id) if source_id else None
        keep = p.ids("keepFromSource")
        card = ctx.state.card_writes.create_card(
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


def get_card(ctx: Context, card_id: str) -> Any:
    p = ctx.params
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        body = card_json(ctx, card)
        actions_filter = p.text("actions")
        if actions_filter not in (None, "none", ""):
            chosen = feed.select(
                ctx.records.card_actions(card.id),
                filter_value=actions_filter,
                default_filter=feed.BOARD_DEFAULT_FILTER,
                since=None,
                before=None,
                limit=p.text("actions_limit"),
                page=None,
            )
            body["actions"] = [render.action(action, ctx.records) for action in chosen]
        if p.flag("attachments") if "attachments" in p else False:
            body["attachments"] = _attachments(ctx, card)
        if p.flag("members") if "members" in p else False:
            body["members"] = [
                render.member_creator(ctx.records.find_member(mid)) for mid in card.member_ids
            ]
        return body


def update_card(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        changes = {f: _card_change(ctx.params, f, f) for f in CARD_FIELDS if f in ctx.params}
        ctx.state.card_writes.update_card(card, ctx.actor, changes)
        return card_json(ctx, card)


def update_card_field(ctx: Context, card_id: str, field: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        if field in CARD_FIELDS:
            changes = {field: _card_change(ctx.params, field, "value")}
            ctx.state.card_writes.update_card(card, ctx.actor, changes)
        elif field not in IGNORED_CARD_FIELDS:
            raise NotFound(f"Cannot PUT /1/cards/{card_id}/{field}")
        return card_json(ctx, card)


def delete_card(ctx: Context, card_id: str) -> Any:
    ctx.state.card_writes.delete_card(ctx.records.card(card_id), ctx.actor)
    return {"limits": {}}


def add_card_label(ctx: Context, card_id: str) -> Any:
    card = ctx.records.card(card_id)
    return ctx.state.card_writes.add_card_label(
        card, ctx.actor, ctx.records.label(required(ctx.params, "value"))
    )


def remove_card_label(ctx: Context, card_id: str, label_id: str) -> Any:
    card = ctx.records.card(card_id)
    return ctx.state.card_writes.remove_card_label(card, ctx.actor, ctx.records.label(label_id))


def create_card_label(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        board = ctx.records.board(card.board_id)
        name, color = ctx.params.text("name") or "", ctx.params.text("color")
        label = ctx.state.board_writes.create_label(board, ctx.actor, name, color)
        ctx.state.card_writes.add_card_label(card, ctx.actor, label)
        return render.label(label)


def add_card_member(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        member = ctx.records.find_member(required(ctx.params, "value"))
        ctx.state.card_writes.add_card_member(card, ctx.actor, member)
        return card_members(ctx, card_id)


def remove_card_member(ctx: Context, card_id: str, member_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        ctx.state.card_writes.remove_card_member(
            card, ctx.actor, ctx.records.find_member(member_id)
        )
        return card_members(ctx, card_id)


def card_members(ctx: Context, card_id: str) -> Any:
    card = ctx.records.card(card_id)
    return [render.board_member(ctx.records.find_member(mid)) for mid in card.member_ids]


def card_actions(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        return actions_page(ctx, ctx.records.card_actions(card.id), feed.CARD_DEFAULT_FILTER)


def add_comment(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        action = ctx.state.card_writes.comment(card, ctx.actor, ctx.params.text("text") or "")
        return render.action(action, ctx.records)


def edit_comment(ctx: Context, action_id: str, card_id: str | None = None) -> Any:
    with ctx.records.lock:
        text = ctx.params.text("text") or ctx.params.text("value") or ""
        action = ctx.state.card_writes.edit_comment(action_id, ctx.actor, text)
        return render.action(action, ctx.records)


def delete_comment(ctx: Context, action_id: str, card_id: str | None = None) -> Any:
    ctx.state.card_writes.delete_comment(action_id, ctx.actor)
    return DELETED


def get_action(ctx: Context, action_id: str) -> Any:
    with ctx.records.lock:
        return render.action(ctx.records.action(action_id), ctx.records)


def card_empty_list(ctx: Context, card_id: str) -> Any:
    ctx.records.card(card_id)
    return []


# -- attachments -----------------------------------------------------------------------------


def _attachments(ctx: Context, card: Card) -> list[dict[str, Any]]:
    return [
        render.attachment(ctx.records.attachments[aid], ctx.base_url) for aid in card.attachment_ids
    ]


def card_attachments(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        return _attachments(ctx, ctx.records.card(card_id))


def add_attachment(ctx: Context, card_id: str) -> Any:
    card = ctx.records.card(card_id)
    upload = ctx.request.files.get("file")
    p = ctx.params
    if upload is not None:
        content = upload.read()
        file_name = upload.filename or "file"
        attachment = ctx.state.checklist_writes.add_attachment(
            card,
            ctx.actor,
            name=p.text("name") or file_name,
            url=None,
            mime_type=p.text("mimeType") or upload.mimetype,
            content=content,
            file_name=file_name,
        )
    else:
        attachment = ctx.state.checklist_writes.add_attachment(
            card,
            ctx.actor,
            name=p.text("name"),
            url=required(p, "url"),
            mime_type=p.text("mimeType"),
        )
    return render.attachment(attachment, ctx.base_url)


def get_attachment(ctx: Context, card_id: str, attachment_id: str) -> Any:
    card = ctx.records.card(card_id)
    return render.attachment(ctx.records.attachment(card, attachment_id), ctx.base_url)


def delete_attachment(ctx: Context, card_id: str, attachment_id: str) -> Any:
    card = ctx.records.card(card_id)
    ctx.state.checklist_writes.delete_attachment(
        card, ctx.records.attachment(card, attachment_id), ctx.actor
    )
    return DELETED


def download_attachment(ctx: Context, card_id: str, attachment_id: str, name: str) -> Any:
    attachment = ctx.records.attachment(ctx.records.card(card_id), attachment_id)
    if attachment.content is None or name != attachment.file_name:
        raise NotFound()
    mimetype = attachment.mime_type or "application/octet-stream"
    return Response(attachment.content, mimetype=mimetype)


# -- checklists ------------------------------------------------------------------------------


def card_checklists(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        return [render.checklist(cl) for cl in ctx.records.card_checklists(card)]


def _new_checklist(ctx: Context, card: Card) -> Any:
    p = ctx.params
    source_id = p.text("idChecklistSource")
    source = ctx.records.checklist(source_id) if source_id else None
    checklist = ctx.state.checklist_writes.add_checklist(
        card, ctx.actor, p.text("name"), p.raw("pos"), source
    )
    return render.checklist(checklist)


def add_card_checklist(ctx: Context, card_id: str) -> Any:
    with ctx.records.lock:
        return _new_checklist(ctx, ctx.records.card(card_id))


def add_checklist(ctx: Context) -> Any:
    with ctx.records.lock:
        return _new_checklist(ctx, ctx.records.card(required(ctx.params, "idCard")))


def get_checklist(ctx: Context, checklist_id: str) -> Any:
    with ctx.records.lock:
        return render.checklist(ctx.records.checklist(checklist_id))


def get_check_items(ctx: Context, checklist_id: str) -> Any:
    with ctx.records.lock:
        return render.checklist(ctx.records.checklist(checklist_id))["checkItems"]


def delete_checklist(ctx: Context, checklist_id: str) -> Any:
    ctx.state.checklist_writes.delete_checklist(ctx.records.checklist(checklist_id), ctx.actor)
    return DELETED


def rename_checklist(ctx: Context, checklist_id: str) -> Any:
    with ctx.records.lock:
        checklist = ctx.records.checklist(checklist_id)
        name = ctx.params.text("value") or ctx.params.text("name") or ""
        return render.checklist(
            ctx.state.checklist_writes.rename_checklist(checklist, ctx.actor, name)
        )


def add_check_item(ctx: Context, checklist_id: str) -> Any:
    with ctx.records.lock:
        checklist = ctx.records.checklist(checklist_id)
        p = ctx.params
        checked = bool(p.flag("checked")) if "checked" in p else False
        name = required(p, "name")
        item = ctx.state.checklist_writes.add_check_item(
            checklist, ctx.actor, name, p.raw("pos"), checked
        )
        return render.check_item(item)


def delete_check_item(ctx: Context, checklist_id: str, item_id: str) -> Any:
    with ctx.records.lock:
        checklist = ctx.records.checklist(checklist_id)
        item = ctx.records.check_item(item_id, checklist)
        ctx.state.checklist_writes.delete_check_item(checklist, item, ctx.actor)
        return DELETED


def _update_item(ctx: Context, card: Card, checklist: Checklist, item_id: str) -> Any:
    if checklist.card_id != card.id:
        raise NotFound()
    item = ctx.records.check_item(item_id, checklist)
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
    return render.check_item(
        ctx.state.checklist_writes.update_check_item(checklist, item, ctx.actor, changes)
    )


def update_check_item(ctx: Context, card_id: str, item_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        item = ctx.records.check_item(item_id)
        return _update_item(ctx, card, ctx.records.checklist(item.checklist_id), item_id)


def update_check_item_in(ctx: Context, card_id: str, checklist_id: str, item_id: str) -> Any:
    with ctx.records.lock:
        card = ctx.records.card(card_id)
        return _update_item(ctx, card, ctx.records.checklist(checklist_id), item_id)
