"""Routes for members, boards, lists and labels (`/1/members`, `/1/boards`, `/1/lists`...)."""

from __future__ import annotations

from typing import Any

from worker.sandbox import feed, render
from worker.sandbox.app import Context
from worker.sandbox.routing import actions_page, card_json, required, route, wanted
from worker.sandbox.state import BadRequest, NotFound

# -- members ---------------------------------------------------------------------------------


@route("/members/<member_id>", "GET")
def get_member(ctx: Context, member_id: str) -> Any:
    member = ctx.actor if member_id == "me" else ctx.state.find_member(member_id)
    with ctx.state.lock:
        boards = [b.id for b in ctx.state.boards.values() if member.id in b.member_ids]
        return render.pick_fields(render.member(member, boards), ctx.params.text("fields"))


@route("/boards/<board_id>/members", "GET")
def board_members(ctx: Context, board_id: str) -> Any:
    board = ctx.state.board(board_id)
    return [render.board_member(ctx.state.find_member(mid)) for mid in board.member_ids]


# -- boards ----------------------------------------------------------------------------------


@route("/boards/<board_id>", "GET")
def get_board(ctx: Context, board_id: str) -> Any:
    with ctx.state.lock:
        board = ctx.state.board(board_id)
        body = render.board(board, ctx.state.board_labels(board.id))
        return render.pick_fields(body, ctx.params.text("fields"))


@route("/boards/<board_id>/lists", "GET")
def board_lists(ctx: Context, board_id: str) -> Any:
    with ctx.state.lock:
        board = ctx.state.board(board_id)
        which = ctx.params.text("filter") or "all"
        lists = [lst for lst in ctx.state.board_lists(board.id) if wanted(lst.closed, which)]
        out = []
        for lst in lists:
            body = render.trello_list(lst)
            cards = ctx.params.text("cards") or "none"
            if cards != "none":
                body["cards"] = [
                    card_json(ctx, card)
                    for card in ctx.state.list_cards(lst.id)
                    if wanted(card.closed, cards)
                ]
            out.append(body)
        return out


@route("/boards/<board_id>/labels", "GET")
def board_labels(ctx: Context, board_id: str) -> Any:
    board = ctx.state.board(board_id)
    labels = ctx.state.board_labels(board.id)
    fields = ctx.params.text("fields")
    return [render.pick_fields(render.label(label), fields) for label in labels]


@route("/boards/<board_id>/labels", "POST")
def create_board_label(ctx: Context, board_id: str) -> Any:
    board = ctx.state.board(board_id)
    name = ctx.params.text("name") or ""
    label = ctx.state.create_label(board, ctx.actor, name, ctx.params.text("color"))
    return render.label(label)


@route("/labels", "POST")
def create_label(ctx: Context) -> Any:
    return create_board_label(ctx, required(ctx.params, "idBoard"))


@route("/labels/<label_id>", "GET")
def get_label(ctx: Context, label_id: str) -> Any:
    return render.label(ctx.state.label(label_id))


@route("/boards/<board_id>/labels/<label_id>", "GET")
def get_board_label(ctx: Context, board_id: str, label_id: str) -> Any:
    label = ctx.state.label(label_id)
    if label.board_id != ctx.state.board(board_id).id:
        raise NotFound()
    return render.label(label)


@route("/boards/<board_id>/cards", "GET")
@route("/boards/<board_id>/cards/<which>", "GET")
def board_cards(ctx: Context, board_id: str, which: str | None = None) -> Any:
    with ctx.state.lock:
        board = ctx.state.board(board_id)
        which = which or ctx.params.text("filter") or "visible"
        if which not in ("open", "closed", "all", "visible"):
            card = ctx.state.card(which)
            if card.board_id != board.id:
                raise NotFound()
            return card_json(ctx, card)
        cards = ctx.state.board_cards(board.id)
        return [card_json(ctx, card) for card in cards if wanted(card.closed, which)]


@route("/boards/<board_id>/checklists", "GET")
def board_checklists(ctx: Context, board_id: str) -> Any:
    with ctx.state.lock:
        board = ctx.state.board(board_id)
        found = [cl for cl in ctx.state.checklists.values() if cl.board_id == board.id]
        return [render.checklist(cl) for cl in sorted(found, key=lambda cl: cl.id)]


@route("/boards/<board_id>/actions", "GET")
def board_actions(ctx: Context, board_id: str) -> Any:
    with ctx.state.lock:
        board = ctx.state.board(board_id)
        return actions_page(ctx, ctx.state.board_actions(board.id), feed.BOARD_DEFAULT_FILTER)


# -- lists -----------------------------------------------------------------------------------


@route("/lists/<list_id>", "GET")
def get_list(ctx: Context, list_id: str) -> Any:
    return render.trello_list(ctx.state.trello_list(list_id))


@route("/lists/<list_id>/cards", "GET")
def list_cards(ctx: Context, list_id: str) -> Any:
    with ctx.state.lock:
        lst = ctx.state.trello_list(list_id)
        which = ctx.params.text("filter") or "open"
        cards = ctx.state.list_cards(lst.id)
        return [card_json(ctx, card) for card in cards if wanted(card.closed, which)]


@route("/lists", "POST")
def create_list(ctx: Context) -> Any:
    board = ctx.state.board(required(ctx.params, "idBoard"))
    name = required(ctx.params, "name")
    return render.trello_list(ctx.state.create_list(board, ctx.actor, name, ctx.params.raw("pos")))


@route("/lists/<list_id>/closed", "PUT")
def close_list(ctx: Context, list_id: str) -> Any:
    lst = ctx.state.trello_list(list_id)
    closed = ctx.params.flag("value")
    if closed is None:
        raise BadRequest("invalid value for value")
    return render.trello_list(ctx.state.set_list_closed(lst, ctx.actor, closed))
