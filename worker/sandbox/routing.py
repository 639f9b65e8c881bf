"""The sandbox's route registry and the helpers its route modules share.

`board_routes`, `card_routes` and `webhook_routes` register their handlers here with
`@route(path, methods)`; `all_routes()` imports them and returns (path, method, handler) for
`app.SandboxApp`. Each handler takes the request `Context` and the URL's arguments and returns
JSON-able data or a `Response`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from worker.sandbox import feed, render
from worker.sandbox.app import Context, Handler, Params
from worker.sandbox.model import Action, Card
from worker.sandbox.state import BadRequest

H = TypeVar("H", bound=Handler)
ROUTES: list[tuple[str, str, Handler]] = []
DELETED = {"_value": None}


def route(path: str, *methods: str) -> Callable[[H], H]:
    """Register the decorated handler for `path` (below `/1`) and `methods`."""

    def register(handler: H) -> H:
        ROUTES.extend((path, method, handler) for method in methods)
        return handler

    return register


def all_routes() -> list[tuple[str, str, Handler]]:
    from worker.sandbox import board_routes, card_routes, webhook_routes  # noqa: F401

    return list(ROUTES)


def required(params: Params, name: str) -> str:
    value = params.text(name)
    if value is None or value == "":
        raise BadRequest(f"invalid value for {name}")
    return value


def card_json(ctx: Context, card: Card) -> dict[str, Any]:
    """A card's JSON, honouring `fields`, `checklists` and `customFieldItems=true`.

    Trello nests the checklists when asked (`checklists=all`), on one card and on a board's
    cards alike; there are no custom fields here.
    """
    p = ctx.params
    body = render.pick_fields(render.card(card, ctx.state), p.text("fields"))
    if "customFieldItems" in p and p.flag("customFieldItems"):
        body["customFieldItems"] = []
    if p.text("checklists") not in (None, "none"):
        body["checklists"] = [render.checklist(cl) for cl in ctx.state.card_checklists(card)]
    return body


def wanted(closed: bool, which: str) -> bool:
    if which in ("open", "visible"):
        return not closed
    if which == "closed":
        return closed
    if which == "all":
        return True
    raise BadRequest("invalid value for filter")


def actions_page(ctx: Context, actions: list[Action], default_filter: str) -> Any:
    p = ctx.params
    chosen = feed.select(
        actions,
        filter_value=p.text("filter"),
        default_filter=default_filter,
        since=p.text("since"),
        before=p.text("before"),
        limit=p.text("limit"),
        page=p.text("page"),
    )
    return [render.action(action, ctx.state) for action in chosen]
