"""The Trello gateway: the one place that talks to Trello.

It drives py-trello's client over our `TrelloSession` (routing, auth header, timeouts, rate
limiter, retries: see `worker.trello.session`) and asks for exactly the fields it needs, one
request per call, so the cost of every operation is plain to read here. Errors arrive as our
own exceptions (`worker.errors`); where a 404 means a setting is wrong, the message names
the setting.

py-trello gets placeholders instead of the key and token: the session holds the real ones and
puts them in the `Authorization` header, so no py-trello object ever holds a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from trello import TrelloClient

from worker.errors import NotFoundError, RequestRejected, TrelloError, TrelloUnavailable
from worker.settings import Settings
from worker.trello.session import (
    Credentials,
    RateLimiter,
    RetryPolicy,
    TrelloSession,
    error_for,
)

logger = logging.getLogger(__name__)

Json = dict[str, Any]

#: A board, its open lists, its labels and its members.
Whole = tuple[Json, list[Json], list[Json], list[Json]]


@dataclass(frozen=True)
class TakeUp:
    """What taking a board up reads (`Trello.take_up_reads`)."""

    whole: Whole
    #: its archived cards (None: Trello would not list them this way)
    archived: list[Json] | None
    #: its newest actions, newest first (up to `RECENT_ACTIONS`; None: Trello left them out)
    recent: list[Json] | None


#: How many of a board's newest actions taking it up reads (its feed starts at the newest,
#: and the ones within the margin behind it are recorded as read).
RECENT_ACTIONS = 50
#: The most routes one `GET /batch` may take.
BATCH_MOST = 10
#: How many batches of one read may be in flight at once (a cycle over many boards is then
#: paced by Trello's rate limit, not by one round trip after another).
IN_FLIGHT = 4
#: Trello's largest page of actions.
MAX_ACTIONS_PAGE = 1000
#: The most labels Trello answers for a board (50 unless `limit` asks for more).
MAX_LABELS = 1000
#: A board with its parts nested (`GET /boards/{id}`): open lists, every label, the members.
WHOLE_BOARD = {"lists": "open", "labels": "all", "labels_limit": str(MAX_LABELS), "members": "all"}
#: Taking a board up: the whole board, and nested in it too its archived cards (for the keeper)
#: and its newest actions (where its feed starts), all in one route.
TAKE_UP = {
    **WHOLE_BOARD,
    "cards": "closed",
    "card_fields": "desc",  # the keeper reads the claims there; a batched route takes no comma
    "actions": "all",
    "actions_limit": str(RECENT_ACTIONS),
}
#: The card fields the worker reads; asking for fewer keeps responses small.
CARD_FIELDS = (
    "name,desc,closed,idBoard,idList,idLabels,labels,idMembers,due,dueComplete,shortLink,"
    "shortUrl,url,dateLastActivity"
)

_PLACEHOLDER = "(held by the session)"


class Trello:
    """Typed, one-request-per-call access to the parts of Trello the worker uses."""

    def __init__(self, session: TrelloSession):
        self.session = session
        self.client = TrelloClient(
            api_key=_PLACEHOLDER, api_secret=_PLACEHOLDER, http_service=session
        )
        #: whether `GET /batch` is answered (a stand-in without it: one route a request)
        self._batching = True

    @classmethod
    def from_settings(
        cls, settings: Settings, *, sleep: Callable[[float], None] = time.sleep
    ) -> Trello:
        session = TrelloSession(
            settings.trello_api_url,
            credentials=Credentials(settings.trello_api_key, settings.trello_token),
            timeout=(min(3.05, settings.http_timeout_seconds), settings.http_timeout_seconds),
            limiter=RateLimiter(settings.rate_limit, settings.rate_window_seconds, sleep=sleep),
            retry=RetryPolicy(attempts=settings.retry_attempts),
            sleep=sleep,
        )
        return cls(session)

    def __repr__(self) -> str:
        return f"Trello({self.session.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def share_budget(self, processes: int) -> None:
        """Limits are per token: with `processes` replicas on one, each keeps to its part."""
        if self.session.limiter is not None:
            self.session.limiter.share(processes)

    def share_budget_through(self, claim: Callable[[], float]) -> None:
        """Each request is claimed from a budget shared with other processes before it goes
        (see `RateLimiter.share_through`), from the very first."""
        if self.session.limiter is not None:
            self.session.limiter.share_through(claim)

    def _call(
        self,
        path: str,
        method: str = "GET",
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        return self.client.fetch_json(
            path, http_method=method, query_params=dict(params or {}), post_args=body
        )

    # -- members and boards -------------------------------------------------------------

    def me(self) -> Json:
        """The member whose token this is."""
        return cast(Json, self._call("/members/me", params={"fields": "id,username,fullName"}))

    def board(self, board_id: str) -> Json:
        """One board; a 404 says which TRELLO_BOARD_ID entry is wrong."""
        try:
            return cast(
                Json, self._call(f"/boards/{board_id}", params={"fields": "id,name,shortLink"})
            )
        except (NotFoundError, RequestRejected) as exc:
            raise _no_board(board_id, exc) from None

    def boards(self, board_ids: Sequence[str]) -> dict[str, Json | TrelloError]:
        """Each board (its id and name), ten boards a request (`GET /batch`; one board: its
        own); a board's failure is its answer."""
        if len(board_ids) == 1:
            try:
                return {board_ids[0]: self.board(board_ids[0])}
            except TrelloError as exc:
                return {board_ids[0]: exc}
        return self._each_board(board_ids, lambda board_id: f"/boards/{board_id}?fields=name")

    def board_whole(self, board_id: str) -> Whole:
        """The board, its open lists, its labels and its members, nested in one request (as
        Trello nests them in `GET /boards/{id}`); each part Trello leaves out is read on its
        own."""
        try:
            found = cast(Json, self._call(f"/boards/{board_id}", params=dict(WHOLE_BOARD)))
        except (NotFoundError, RequestRejected) as exc:
            raise _no_board(board_id, exc) from None
        return self._whole(board_id, found)

    def _whole(self, board_id: str, found: Json) -> Whole:
        """A board read with its parts nested; each part Trello left out, read on its own."""
        lists, labels, members = (found.get(part) for part in ("lists", "labels", "members"))
        return (
            found,
            lists if isinstance(lists, list) else self.lists(board_id),
            labels if isinstance(labels, list) else self.labels(board_id),
            members if isinstance(members, list) else self.board_members(board_id),
        )

    def board_members(self, board_id: str) -> list[Json]:
        return cast(list[Json], self._call(f"/boards/{board_id}/members"))

    def lists(self, board_id: str) -> list[Json]:
        return cast(list[Json], self._call(f"/boards/{board_id}/lists", params={"filter": "open"}))

    def labels(self, board_id: str) -> list[Json]:
        """Every label of the board (Trello answers 50 unless asked for more; 1000 at most)."""
        params = {"limit": MAX_LABELS}
        return cast(list[Json], self._call(f"/boards/{board_id}/labels", params=params))

    def board_actions(
        self, board_id: str, *, since: str | None = None, action_filter: str = "all"
    ) -> list[Json]:
        """Every action on the board after `since` (an action id or ISO date), oldest first.

        One request when fewer than a page of actions are new; otherwise it pages back with
        `before` until it reaches `since`. Duplicates (an action on two pages) are dropped.
        """
        seen: dict[str, Json] = {}
        before: str | None = None
        while True:
            params: dict[str, Any] = {"filter": action_filter, "limit": MAX_ACTIONS_PAGE}
            if since:
                params["since"] = since
            if before:
                params["before"] = before
            try:
                page = cast(list[Json], self._call(f"/boards/{board_id}/actions", params=params))
            except (NotFoundError, RequestRejected) as exc:
                raise _no_board(board_id, exc) from None
            for action in page:
                if isinstance(action, dict):  # an odd entry is the runner's to report
                    seen.setdefault(str(action.get("id", id(action))), action)
            if len(page) < MAX_ACTIONS_PAGE:
                break
            before = str(page[-1].get("id", "")) if isinstance(page[-1], dict) else None
            if not before:
                break
        return sorted(seen.values(), key=_chronological)

    def feeds(
        self, wanted: Sequence[tuple[str, str | None]]
    ) -> dict[str, list[Json] | TrelloError]:
        """Each board's actions after its `since` (as `board_actions`), ten boards a request
        (`GET /batch`). A board's own failure is its answer (the others are not hidden by it);
        a board with a full page of new actions is read again on its own, paging back.
        A failure of a whole batch is raised."""
        since = dict(wanted)

        def route(board_id: str) -> str:
            query = {"filter": "all", "limit": str(MAX_ACTIONS_PAGE)}
            if since[board_id]:
                query["since"] = str(since[board_id])
            return f"/boards/{board_id}/actions?{urlencode(query)}"

        found: dict[str, list[Json] | TrelloError] = {}
        for board_id, answer in self._each_board(list(since), route).items():
            if isinstance(answer, TrelloError):
                found[board_id] = answer
            elif not isinstance(answer, list):
                found[board_id] = RequestRejected(
                    f"Trello answered the feed of board {board_id!r} with no list",
                    method="GET",
                    path=f"/boards/{board_id}/actions",
                )
            elif len(answer) >= MAX_ACTIONS_PAGE:  # more than a page: read it on its own
                found[board_id] = self.board_actions(board_id, since=since[board_id])
            else:
                page = [a for a in answer if isinstance(a, dict)]
                found[board_id] = sorted(page, key=_chronological)
        return found

    def _each_board(
        self, board_ids: Sequence[str], route: Callable[[str], str]
    ) -> dict[str, Any | TrelloError]:
        """`route(board)` for each board, ten to a batch; each answer, or the board's error."""
        found: dict[str, Any | TrelloError] = {}
        answers = self._batched([route(board_id) for board_id in board_ids])
        for board_id, answer in zip(board_ids, answers, strict=True):
            if isinstance(answer, TrelloError) and not isinstance(answer, TrelloUnavailable):
                answer = _no_board(board_id, answer)
            found[board_id] = answer
        return found

    def _batched(self, routes: Sequence[str]) -> list[Any | TrelloError]:
        """Any number of routes, ten to a batch, up to `IN_FLIGHT` batches at once (inside the
        rate limiter, which each request still waits for); the answers in the routes' order."""
        chunks = [routes[start : start + BATCH_MOST] for start in range(0, len(routes), BATCH_MOST)]
        if len(chunks) == 1:
            return self.batch(chunks[0])
        with ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="batch") as pool:
            return [answer for answers in pool.map(self.batch, chunks) for answer in answers]

    def batch(self, routes: Sequence[str]) -> list[Any | TrelloError]:
        """Up to ten GET routes (`/boards/x/actions?since=...`) in one request; each one's
        answer, or the error it got (Trello answers `{"200": result}` for each success, and an
        error of its own, `{"404": ...}` or `{"statusCode": 404, ...}`, for each failure)."""
        if not 1 <= len(routes) <= BATCH_MOST:
            raise ValueError(f"a batch takes 1 to {BATCH_MOST} routes, not {len(routes)}")
        if any("," in route for route in routes):  # Trello splits `urls` at every comma
            raise ValueError("a batched route may not hold a comma")
        if not self._batching:
            return [self._one(route) for route in routes]
        try:
            answers = self._call("/batch", params={"urls": ",".join(routes)})
        except (NotFoundError, RequestRejected) as exc:  # a Trello stand-in without `/batch`
            logger.warning("GET /batch was refused (%s); reading one route a request", exc)
            self._batching = False
            return [self._one(route) for route in routes]
        if not isinstance(answers, list) or len(answers) != len(routes):
            raise TrelloUnavailable(
                f"Trello answered a batch of {len(routes)} with no list of as many answers",
                method="GET",
                path="/batch",
            )
        found = [
            _batch_answer(route, answer) for route, answer in zip(routes, answers, strict=True)
        ]
        for route, answer in zip(routes, found, strict=True):  # as the session logs a request
            status = answer.status if isinstance(answer, TrelloError) else 200
            logger.debug("GET /1%s -> %s (batched)", route.partition("?")[0], status or "?")
        return found

    def _one(self, route: str) -> Any | TrelloError:
        """One route of a batch read on its own: its answer, or its error."""
        parts = urlsplit(route)
        try:
            return self._call(parts.path, params=dict(parse_qsl(parts.query)))
        except TrelloUnavailable:
            raise
        except TrelloError as exc:
            return exc

    def latest_action(self, board_id: str) -> Json | None:
        """The board's newest action, if it has any."""
        page = cast(list[Json], self._call(f"/boards/{board_id}/actions", params={"limit": 1}))
        return page[0] if page else None

    # -- cards ----------------------------------------------------------------------------

    def card(self, card_id: str) -> Json:
        """A card (by id or short link) with its checklists."""
        return cast(
            Json,
            self._call(f"/cards/{card_id}", params={"fields": CARD_FIELDS, "checklists": "all"}),
        )

    def cards(self, board_id: str) -> list[Json]:
        """The board's open cards, with their checklists, in one request."""
        return cast(
            list[Json],
            self._call(
                f"/boards/{board_id}/cards",
                params={"fields": CARD_FIELDS, "checklists": "all"},
            ),
        )

    def cards_of(self, board_ids: Sequence[str]) -> dict[str, list[Json] | TrelloError]:
        """Each board's open cards with their checklists, ten boards a request (`GET /batch`;
        every field, since a batched route may hold no comma); a board's failure is its
        answer. A failure of a whole batch is raised."""
        found: dict[str, list[Json] | TrelloError] = {}
        read = self._each_board(
            board_ids, lambda board_id: f"/boards/{board_id}/cards?checklists=all"
        )
        for board_id, answer in read.items():
            if isinstance(answer, TrelloError | list):
                found[board_id] = answer
            else:
                found[board_id] = RequestRejected(
                    f"Trello answered the cards of board {board_id!r} with no list",
                    method="GET",
                    path=f"/boards/{board_id}/cards",
                )
        return found

    def take_up_reads(self, board_ids: Sequence[str]) -> dict[str, TakeUp | TrelloError]:
        """What taking a board up reads, for many boards, one route a board in batches of
        ten: the board with its lists, labels, members, archived cards and newest actions
        nested (`TAKE_UP`). A board that cannot be read is its error; a part Trello leaves
        out is read on its own (lists, labels, members) or left to its reader (archived cards
        and actions: None)."""
        answers = self._batched([f"/boards/{b}?{urlencode(TAKE_UP)}" for b in board_ids])
        found: dict[str, TakeUp | TrelloError] = {}
        for board_id, whole in zip(board_ids, answers, strict=True):
            if isinstance(whole, TrelloError):
                found[board_id] = (
                    whole if isinstance(whole, TrelloUnavailable) else _no_board(board_id, whole)
                )
            elif not isinstance(whole, dict):
                found[board_id] = RequestRejected(
                    f"Trello answered board {board_id!r} with something unreadable",
                    method="GET",
                    path=f"/boards/{board_id}",
                )
            else:
                found[board_id] = TakeUp(
                    self._whole(board_id, whole),
                    _dicts(whole.get("cards")),
                    _dicts(whole.get("actions")),
                )
        return found

    def archived_cards(self, board_id: str) -> list[Json]:
        """The board's archived cards: their ids, names and descriptions (`/cards/closed`, or
        `/cards?filter=closed` where the first is not known)."""
        fields = {"fields": "name,desc"}
        try:
            found = self._call(f"/boards/{board_id}/cards/closed", params=fields)
        except NotFoundError:
            found = self._call(f"/boards/{board_id}/cards", params={**fields, "filter": "closed"})
        return cast(list[Json], found)

    def card_actions(self, card_id: str, *, action_filter: str = "all") -> list[Json]:
        """A card's history, oldest first (up to Trello's page of 1000)."""
        actions = cast(
            list[Json],
            self._call(
                f"/cards/{card_id}/actions",
                params={"filter": action_filter, "limit": MAX_ACTIONS_PAGE},
            ),
        )
        return sorted((a for a in actions if isinstance(a, dict)), key=_chronological)

    def create_card(
        self,
        list_id: str,
        name: str,
        *,
        desc: str = "",
        label_ids: Iterable[str] = (),
        member_ids: Iterable[str] = (),
        due: str | None = None,
        source_card_id: str | None = None,
    ) -> Json:
        body: dict[str, Any] = {"idList": list_id, "name": name, "desc": desc}
        for field, ids in (("idLabels", label_ids), ("idMembers", member_ids)):
            if joined := ",".join(ids):
                body[field] = joined
        if due:
            body["due"] = due
        if source_card_id:
            body["idCardSource"] = source_card_id
            body["keepFromSource"] = "checklists"
        return cast(Json, self._call("/cards", "POST", body=body))

    def set_description(self, card_id: str, desc: str) -> None:
        self._call(f"/cards/{card_id}", "PUT", body={"desc": desc})

    def set_due(self, card_id: str, due: str | None, *, complete: bool = False) -> None:
        body = {"due": due or "", "dueComplete": "true" if complete else "false"}
        self._call(f"/cards/{card_id}", "PUT", body=body)

    def archive_card(self, card_id: str) -> None:
        self._call(f"/cards/{card_id}", "PUT", body={"closed": True})

    def add_label(self, card_id: str, label_id: str) -> None:
        self._call(f"/cards/{card_id}/idLabels", "POST", body={"value": label_id})

    def add_member(self, card_id: str, member_id: str) -> None:
        self._call(f"/cards/{card_id}/idMembers", "POST", body={"value": member_id})

    def comment(self, card_id: str, text: str) -> Json:
        return cast(
            Json, self._call(f"/cards/{card_id}/actions/comments", "POST", body={"text": text})
        )

    def attachments(self, card_id: str) -> list[Json]:
        return cast(list[Json], self._call(f"/cards/{card_id}/attachments"))

    def attach_file(self, card_id: str, name: str, data: bytes, mime_type: str) -> Json:
        """Upload `data` to the card as the file `name` (multipart, one request)."""
        return cast(
            Json,
            self.client.fetch_json(
                f"/cards/{card_id}/attachments",
                http_method="POST",
                query_params={"name": name, "mimeType": mime_type},
                files={"file": (name, data, mime_type)},
            ),
        )

    def attach_url(self, card_id: str, url: str, name: str) -> Json:
        body = {"url": url, "name": name[:256]}
        return cast(Json, self._call(f"/cards/{card_id}/attachments", "POST", body=body))

    def delete_attachment(self, card_id: str, attachment_id: str) -> None:
        self._call(f"/cards/{card_id}/attachments/{attachment_id}", "DELETE")

    # -- checklists -------------------------------------------------------------------------

    def copy_checklist(
        self, card_id: str, source_checklist_id: str, *, name: str, pos: str | int = "bottom"
    ) -> Json:
        """Copy a whole checklist, items included, in one request."""
        body = {
            "idCard": card_id,
            "idChecklistSource": source_checklist_id,
            "name": name,
            "pos": pos,
        }
        return cast(Json, self._call("/checklists", "POST", body=body))

    def create_checklist(self, card_id: str, name: str, *, pos: str | int = "bottom") -> Json:
        return cast(
            Json,
            self._call("/checklists", "POST", body={"idCard": card_id, "name": name, "pos": pos}),
        )

    def add_check_item(self, checklist_id: str, name: str, *, pos: str | int = "bottom") -> Json:
        return cast(
            Json,
            self._call(
                f"/checklists/{checklist_id}/checkItems", "POST", body={"name": name, "pos": pos}
            ),
        )

    # -- set-up (`incident-worker setup`) -----------------------------------------------------

    def tick(self, card_id: str, item_id: str) -> None:
        """Tick a check item."""
        self._call(f"/cards/{card_id}/checkItem/{item_id}", "PUT", body={"state": "complete"})

    def create_label(self, board_id: str, name: str, color: str | None) -> Json:
        """Create a label on the board (one request)."""
        body: dict[str, Any] = {"name": name}
        if color:
            body["color"] = color
        return cast(Json, self._call(f"/boards/{board_id}/labels", "POST", body=body))

    def create_list(self, board_id: str, name: str) -> Json:
        """Create an open list at the right end of the board (one request)."""
        body = {"idBoard": board_id, "name": name, "pos": "bottom"}
        return cast(Json, self._call("/lists", "POST", body=body))

    def card_links(self, board_id: str) -> list[Json]:
        """The board's open cards, with only their id, name and short link (one light request)."""
        return cast(
            list[Json],
            self._call(f"/boards/{board_id}/cards", params={"fields": "id,name,shortLink"}),
        )

    # -- webhooks ---------------------------------------------------------------------------

    def webhooks(self) -> list[Json]:
        """The token's webhooks (Trello lists them under the token itself)."""
        token = (
            self.session.credentials.token.get_secret_value() if self.session.credentials else ""
        )
        return cast(list[Json], self._call(f"/tokens/{token}/webhooks"))

    def create_webhook(self, callback_url: str, model_id: str, description: str) -> Json:
        body = {"callbackURL": callback_url, "idModel": model_id, "description": description}
        return cast(Json, self._call("/webhooks", "POST", body=body))

    def delete_webhook(self, webhook_id: str) -> None:
        self._call(f"/webhooks/{webhook_id}", "DELETE")


def _dicts(part: Any) -> list[Json] | None:
    """A nested part of an answer (a list of objects), or None when Trello left it out."""
    return [entry for entry in part if isinstance(entry, dict)] if isinstance(part, list) else None


def _batch_answer(route: str, answer: Any) -> Any | TrelloError:
    """One answer of a batch: its result, or the error it stands for."""
    path = route.partition("?")[0]
    if isinstance(answer, dict):
        if "200" in answer:
            return answer["200"]
        status = answer.get("statusCode")
        if status is None and len(answer) == 1:
            only = next(iter(answer))
            status = int(only) if str(only).isdigit() else None
        if isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
            said = str(answer.get("message") or next(iter(answer.values()), ""))[:200]
            return error_for(int(status), "GET", path, said)
    return TrelloUnavailable(
        f"Trello answered {path} in a batch with something unreadable", method="GET", path=path
    )


def _no_board(board_id: str, exc: TrelloError) -> TrelloError:
    """A board that is gone (404) or an id Trello cannot read (400): name the setting."""
    if isinstance(exc, RequestRejected) and exc.status != 400:
        return exc
    return NotFoundError(
        f"Board {board_id!r} (in TRELLO_BOARD_ID) does not exist or the token's member "
        "cannot see it.",
        method=exc.method,
        path=exc.path,
        status=exc.status,
    )


def _chronological(action: Json) -> tuple[str, str]:
    return (str(action.get("date", "")), str(action.get("id", "")))
