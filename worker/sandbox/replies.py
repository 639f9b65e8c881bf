"""What the route modules share: a required parameter, Trello's open/closed `filter`, and the
replies several routes give (a card as JSON, a page of the actions feed, the answer to a
delete). The route modules import this; it imports none of them.
"""

from __future__ import annotations

from typing import Any

from worker.sandbox import feed, render
from worker.sandbox.app import Context, Params
from worker.sandbox.model import Action, Card
from worker.sandbox.state import BadRequest

#: what Trello answers to a delete
DELETED = {"_value": None}


def required(params: Params, name: str) -> str:
    """The parameter `name`, which must be given and not empty."""
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
    body = render.pick_fields(render.card(card, ctx.records), p.text("fields"))
    if "customFieldItems" in p and p.flag("customFieldItems"):
        body["customFieldItems"] = []
    if p.text("checklists") not in (None, "none"):
        body["checklists"] = [render.checklist(cl) for cl in ctx.records.card_checklists(card)]
    return body


def wanted(closed: bool, which: str) -> bool:
    """Whether a list or card (`closed` or not) passes Trello's `filter` value `which`."""
    if which in ("open", "visible"):
        return not closed
    if which == "closed":
        return closed
    if which == "all":
        return True
    raise BadRequest("invalid value for filter")


def actions_page(ctx: Context, actions: list[Action], default_filter: str) -> Any:
    """The page of `actions` (oldest first) the request's feed parameters ask for, as JSON."""
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
    return [render.action(action, ctx.records) for action in chosen]
