"""Routes for members, boards, lists and labels (`/1/members`, `/1/boards`, `/1/lists`...)."""

from __future__ import annotations

from typing import Any

from worker.sandbox import feed, render
from worker.sandbox.app import Context
from worker.sandbox.replies import actions_page, card_json, required, wanted
from worker.sandbox.state import BadRequest, NotFound

# -- members ---------------------------------------------------------------------------------


def get_member(ctx: Context, member_id: str) -> Any:
    member = ctx.actor if member_id == "me" else ctx.records.find_member(member_id)
    with ctx.records.lock:
        boards = [b.id for b in ctx.records.boards.values() if member.id in b.member_ids]
        return render.pick_fields(render.member(member, boards), ctx.params.text("fields"))


def board_members(ctx: Context, board_id: str) -> Any:
    board = ctx.records.board(board_id)
    return [render.board_member(ctx.records.find_member(mid)) for mid in board.member_ids]


# -- boards ----------------------------------------------------------------------------------


def get_board(ctx: Context, board_id: str) -> Any:
    """The board; with `lists=open|closed|all`, `labels=all` (`labels_limit`, 50 by default,
    as Trello), `members=all`, `cards=open|closed|all|visible` (`card_fields`) and
    `actions=<filter>` (`actions_limit`, 50 by default, 1000 at most), those nested in it, as
    Trello nests them."""
    p = ctx.params
    with ctx.records.lock:
        board = ctx.records.board(board_id)
        labels = ctx.records.board_labels(board.id)
        body = render.pick_fields(render.board(board, labels), p.text("fields"))
        which = p.text("lists") or "none"
        if which != "none":
            if which not in ("open", "closed", "all"):
                raise BadRequest("invalid value for lists")
            body["lists"] = [
                render.trello_list(lst)
                for lst in ctx.records.board_lists(board.id)
                if wanted(lst.closed, which)
            ]
        if (p.text("labels") or "none") != "none":
            limit = p.text("labels_limit")
            if limit is not None and (not limit.isdigit() or not 0 < int(limit) <= LABELS_MOST):
                raise BadRequest("invalid value for labels_limit")
            body["labels"] = [
                render.label(label) for label in labels[: int(limit) if limit else LABELS_PAGE]
            ]
        if (p.text("members") or "none") != "none":
            body["members"] = [
                render.board_member(ctx.records.find_member(mid)) for mid in board.member_ids
            ]
        cards = p.text("cards") or "none"
        if cards != "none":
            body["cards"] = [
                render.pick_fields(render.card(card, ctx.records), p.text("card_fields"))
                for card in ctx.records.board_cards(board.id)
                if wanted(card.closed, cards)
            ]
        actions = p.text("actions") or "none"
        if actions != "none":
            body["actions"] = [
                render.action(action, ctx.records)
                for action in feed.select(
                    ctx.records.board_actions(board.id),
                    filter_value=actions,
                    default_filter=feed.BOARD_DEFAULT_FILTER,
                    since=p.text("actions_since"),
                    before=None,
                    limit=p.text("actions_limit") or str(NESTED_ACTIONS_PAGE),
                    page=None,
                )
            ]
        return body


def board_lists(ctx: Context, board_id: str) -> Any:
    with ctx.records.lock:
        board = ctx.records.board(board_id)
        which = ctx.params.text("filter") or "all"
        lists = [lst for lst in ctx.records.board_lists(board.id) if wanted(lst.closed, which)]
        out = []
        for lst in lists:
            body = render.trello_list(lst)
            cards = ctx.params.text("cards") or "none"
            if cards != "none":
                body["cards"] = [
                    card_json(ctx, card)
                    for card in ctx.records.list_cards(lst.id)
                    if wanted(card.closed, cards)
                ]
            out.append(body)
        return out


#: How many labels Trello answers unless `limit` asks for more, and the most it may ask for.
LABELS_PAGE, LABELS_MOST = 50, 1000
#: How many actions a board nests unless `actions_limit` asks for another number.
NESTED_ACTIONS_PAGE = 50


def board_labels(ctx: Context, board_id: str) -> Any:
    board = ctx.records.board(board_id)
    limit = ctx.params.text("limit")
    if limit is not None and (not limit.isdigit() or not 0 < int(limit) <= LABELS_MOST):
        raise BadRequest("invalid value for limit")
    labels = ctx.records.board_labels(board.id)[: int(limit) if limit else LABELS_PAGE]
    fields = ctx.params.text("fields")
    return [render.pick_fields(render.label(label), fields) for label in labels]


def create_board_label(ctx: Context, board_id: str) -> Any:
    board = ctx.records.board(board_id)
    name = ctx.params.text("name") or ""
    label = ctx.state.board_writes.create_label(board, ctx.actor, name, ctx.params.text("color"))
    return render.label(label)


def create_label(ctx: Context) -> Any:
    return create_board_label(ctx, required(ctx.params, "idBoard"))


def get_label(ctx: Context, label_id: str) -> Any:
    return render.label(ctx.records.label(label_id))


def get_board_label(ctx: Context, board_id: str, label_id: str) -> Any:
    label = ctx.records.label(label_id)
    if label.board_id != ctx.records.board(board_id).id:
        raise NotFound()
    return render.label(label)


def board_cards(ctx: Context, board_id: str, which: str | None = None) -> Any:
    with ctx.records.lock:
        board = ctx.records.board(board_id)
        which = which or ctx.params.text("filter") or "visible"
        if which not in ("open", "closed", "all", "visible"):
            card = ctx.records.card(which)
            if card.board_id != board.id:
                raise NotFound()
            return card_json(ctx, card)
        cards = ctx.records.board_cards(board.id)
        return [card_json(ctx, card) for card in cards if wanted(card.closed, which)]


def board_checklists(ctx: Context, board_id: str) -> Any:
    with ctx.records.lock:
        board = ctx.records.board(board_id)
        found = [cl for cl in ctx.records.checklists.values() if cl.board_id == board.id]
        return [render.checklist(cl) for cl in sorted(found, key=lambda cl: cl.id)]


def board_actions(ctx: Context, board_id: str) -> Any:
    with ctx.records.lock:
        board = ctx.records.board(board_id)
        return actions_page(ctx, ctx.records.board_actions(board.id), feed.BOARD_DEFAULT_FILTER)


# -- lists -----------------------------------------------------------------------------------


def get_list(ctx: Context, list_id: str) -> Any:
    return render.trello_list(ctx.records.trello_list(list_id))


def list_cards(ctx: Context, list_id: str) -> Any:
    with ctx.records.lock:
        lst = ctx.records.trello_list(list_id)
        which = ctx.params.text("filter") or "open"
        cards = ctx.records.list_cards(lst.id)
        return [card_json(ctx, card) for card in cards if wanted(card.closed, which)]


def create_list(ctx: Context) -> Any:
    board = ctx.records.board(required(ctx.params, "idBoard"))
    name = required(ctx.params, "name")
    return render.trello_list(
        ctx.state.board_writes.create_list(board, ctx.actor, name, ctx.params.raw("pos"))
    )


def close_list(ctx: Context, list_id: str) -> Any:
    lst = ctx.records.trello_list(list_id)
    closed = ctx.params.flag("value")
    if closed is None:
        raise BadRequest("invalid value for value")
    return render.trello_list(ctx.state.board_writes.set_list_closed(lst, ctx.actor, closed))
