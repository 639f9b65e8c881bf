"""The sandbox's boards as web pages a person can act on, served at `/` beside the API.

Reading: each board's lists and cards as Trello shows them (labels, members, due dates,
checklists, comments newest first, Markdown rendered as Trello renders it), read from the
state under its lock. Acting: a person is picked (the seeded people), and every form is
carried out through the sandbox's own API (`/1/...`) as that person, in this process: the
action is recorded, rate-limited, faulted and logged exactly as if their client had sent it,
so a worker watching the board sees what Trello would record. A page reloads itself when the
board changes (a small script asks `/version`, the number of actions recorded, every second,
and leaves a page alone while something is being typed into it); without the script every
page and form still works. No page shows a token, and a form posted from another site's
page (its `Origin` another) is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Request, Response

from worker.sandbox import markdown
from worker.sandbox.model import Card, CheckItem, Member
from worker.sandbox.state import NotFound as Missing
from worker.sandbox.state import SandboxState

WSGIApp = Callable[..., Any]

#: How soon a due date counts as "due soon" (Trello shows it so within a day).
DUE_SOON = timedelta(hours=24)

ROUTES = Map(
    [
        Rule("/", endpoint="index", methods=["GET"]),
        Rule("/version", endpoint="version", methods=["GET"]),
        Rule("/b/<board_id>", endpoint="board", methods=["GET"]),
        Rule("/c/<card_id>", endpoint="card", methods=["GET"]),
        Rule("/act/<kind>", endpoint="act", methods=["POST"]),
    ]
)


@dataclass(frozen=True)
class LabelView:
    id: str
    name: str
    color: str


@dataclass(frozen=True)
class DueView:
    text: str
    state: str  # "complete", "overdue", "soon" or ""


@dataclass(frozen=True)
class Tile:
    """A card as its list shows it."""

    id: str
    name: str
    labels: list[LabelView]
    members: list[str]
    due: DueView | None
    checked: tuple[int, int] | None
    comments: int


@dataclass(frozen=True)
class ListView:
    id: str
    name: str
    cards: list[Tile]


@dataclass(frozen=True)
class Item:
    id: str
    name: Markup
    complete: bool


@dataclass(frozen=True)
class ChecklistView:
    id: str
    name: str
    items: list[Item]


@dataclass(frozen=True)
class Comment:
    who: str
    when: str
    text: Markup


class BoardPages:
    """The pages, and the forms that act through the API as the person picked."""

    def __init__(
        self,
        state: SandboxState,
        api: WSGIApp,
        api_key: Callable[[], str],
        people: Callable[[], Sequence[Member]],
    ):
        self.state = state
        self.api = api
        self.api_key = api_key
        self.people = people
        self.templates = Environment(
            loader=PackageLoader("worker.sandbox", "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def __call__(self, request: Request) -> Response:
        try:
            endpoint, values = ROUTES.bind_to_environ(request.environ).match()
            handler = getattr(self, f"_{endpoint}")
            return handler(request, **values)  # type: ignore[no-any-return]
        except HTTPException as exc:
            return Response(
                f"{exc.code} {exc.name}: no such page of the sandbox.",
                status=exc.code or 404,
                mimetype="text/plain",
            )

    # -- reading -------------------------------------------------------------------------

    def _version(self, request: Request) -> Response:
        return Response(str(self._changes()), mimetype="text/plain")

    def _changes(self) -> int:
        with self.state.lock:
            return len(self.state.records.actions)

    def _index(self, request: Request) -> Response:
        with self.state.lock:
            boards = [b for b in self.state.records.boards.values() if not b.closed]
        if len(boards) == 1:
            person = self._person(request).username
            return self._redirect(f"/b/{boards[0].id}", person, request.args.get("said", ""))
        return self._page(request, "index.html", boards=boards, title="Boards")

    def _board(self, request: Request, board_id: str) -> Response:
        records = self.state.records
        with self.state.lock:
            board = self._found(lambda: records.board(board_id))
            labels = {label.id: label for label in records.board_labels(board.id)}
            lists = [
                ListView(
                    lst.id,
                    lst.name,
                    [
                        self._tile(card, labels)
                        for card in records.list_cards(lst.id)
                        if not card.closed  # archived: off the board, as Trello shows it
                    ],
                )
                for lst in records.board_lists(board.id)
                if not lst.closed
            ]
        return self._page(request, "board.html", board=board, lists=lists, title=board.name)

    def _card(self, request: Request, card_id: str) -> Response:
        records = self.state.records
        with self.state.lock:
            card = self._found(lambda: records.card(card_id))
            board, here = records.card_context(card)
            labels = {label.id: label for label in records.board_labels(board.id)}
            usernames = [records.members[m].username for m in board.member_ids]
            checklists = [
                ChecklistView(
                    checklist.id,
                    checklist.name,
                    [_item(item, usernames) for item in checklist.items],
                )
                for checklist in records.card_checklists(card)
            ]
            comments = [
                Comment(
                    records.members[action.member_id].username,
                    action.date.strftime("%a %d %b %H:%M:%S UTC"),
                    markdown.render(str(action.data.get("text", "")), usernames),
                )
                for action in reversed(records.card_actions(card.id))
                if action.type == "commentCard"
            ]
            view = {
                "card": card,
                "board": board,
                "here": here,
                "tile": self._tile(card, labels),
                "board_labels": [_label(label) for label in labels.values()],
                "lists": [lst for lst in records.board_lists(board.id) if not lst.closed],
                "desc": markdown.render(card.desc, usernames),
                "checklists": checklists,
                "comments": comments,
            }
        return self._page(request, "card.html", title=card.name, **view)

    def _tile(self, card: Card, labels: Mapping[str, Any]) -> Tile:
        records = self.state.records
        items = [item for cl in records.card_checklists(card) for item in cl.items]
        return Tile(
            card.id,
            card.name,
            [_label(labels[i]) for i in card.label_ids if i in labels],
            [records.members[m].username for m in card.member_ids if m in records.members],
            self._due(card),
            (sum(i.state == "complete" for i in items), len(items)) if items else None,
            sum(1 for a in records.card_actions(card.id) if a.type == "commentCard"),
        )

    def _due(self, card: Card) -> DueView | None:
        if not card.due:
            return None
        due = datetime.fromisoformat(card.due.replace("Z", "+00:00"))
        now = self.state.records.clock()
        if card.due_complete:
            state = "complete"
        elif due < now:
            state = "overdue"
        elif due - now <= DUE_SOON:
            state = "soon"
        else:
            state = ""
        return DueView(due.strftime("%a %d %b %H:%M UTC"), state)

    # -- acting --------------------------------------------------------------------------

    def _act(self, request: Request, kind: str) -> Response:
        """One form: the API call it stands for, as the person picked; then back to the page
        it came from, saying what went wrong if the API refused."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
            return Response(  # a page of another site posting here: not the sandbox's forms
                "403 Forbidden: the sandbox's forms act only from its own pages.",
                status=403,
                mimetype="text/plain",
            )
        person = self._person(request)
        form = request.form
        back = form.get("back", "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        call = _calls(form).get(kind)
        if call is None:
            raise NotFound()
        method, path, fields = call
        status, said = self._api_call(person, method, path, fields)
        refused = f"The sandbox refused {kind.replace('_', ' ')}: {said}" if status >= 400 else ""
        if kind == "create_card" and status < 400:
            back = f"/c/{json.loads(said)['id']}"
        return self._redirect(back, person.username, refused)

    def _api_call(
        self, person: Member, method: str, path: str, fields: Mapping[str, str]
    ) -> tuple[int, str]:
        header = f'OAuth oauth_consumer_key="{self.api_key()}", oauth_token="{person.token}"'
        environ = EnvironBuilder(
            path=path,
            method=method,
            data=dict(fields),
            headers=[("Authorization", header)],
        ).get_environ()
        body, status, _ = run_wsgi_app(self.api, environ, buffered=True)
        text = b"".join(body).decode("utf-8", "replace")
        return int(status.split()[0]), text

    # -- helpers -------------------------------------------------------------------------

    def _person(self, request: Request) -> Member:
        people = list(self.people())
        wanted = request.values.get("as", "")
        return next((p for p in people if p.username == wanted), people[0])

    def _found(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Missing as exc:
            raise NotFound() from exc

    def _page(self, request: Request, template: str, **values: Any) -> Response:
        person = self._person(request)
        with self.state.lock:
            boards = [b for b in self.state.records.boards.values() if not b.closed]
        html = self.templates.get_template(template).render(
            person=person.username,
            people=[p.username for p in self.people()],
            boards=boards,
            path=request.path,
            said=request.args.get("said", ""),
            version=self._changes(),
            **values,
        )
        return Response(html, mimetype="text/html")

    def _redirect(self, path: str, person: str, said: str = "") -> Response:
        query = {"as": person}
        if said:
            query["said"] = said[:300]
        return Response(status=303, headers={"Location": f"{quote(path)}?{urlencode(query)}"})


def _item(item: CheckItem, usernames: Sequence[str]) -> Item:
    return Item(item.id, markdown.render(item.name, usernames), item.state == "complete")


def _label(label: Any) -> LabelView:
    return LabelView(label.id, label.name, label.color or "none")


def _calls(form: Mapping[str, str]) -> dict[str, tuple[str, str, dict[str, str]]]:
    """What each form asks of the API: (method, path, fields); the ids a form names are ids
    (letters and digits), never a piece of another path."""
    card, item, label, checklist = (_id(form, n) for n in ("card", "item", "label", "checklist"))
    named = {"name": form.get("name", "")}
    return {
        "create_card": ("POST", "/1/cards", {"idList": form.get("list", ""), **named}),
        "add_label": ("POST", f"/1/cards/{card}/idLabels", {"value": label}),
        "remove_label": ("DELETE", f"/1/cards/{card}/idLabels/{label}", {}),
        "comment": ("POST", f"/1/cards/{card}/actions/comments", {"text": form.get("text", "")}),
        "tick": ("PUT", f"/1/cards/{card}/checkItem/{item}", {"state": "complete"}),
        "untick": ("PUT", f"/1/cards/{card}/checkItem/{item}", {"state": "incomplete"}),
        "move": ("PUT", f"/1/cards/{card}", {"idList": form.get("list", "")}),
        "archive": ("PUT", f"/1/cards/{card}", {"closed": "true"}),
        "add_item": ("POST", f"/1/checklists/{checklist}/checkItems", named),
    }


def _id(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    return value if value.isalnum() and value.isascii() else "-"
