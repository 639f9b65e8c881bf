"""`incident-worker webhook register|list|delete`: the Trello webhooks that call this worker.

`register` makes one webhook per watched board calling INCIDENT_WEBHOOK_CALLBACK_URL and keeps
any that exists already, so it is safe to run again; the boards are read ten to a request, and
a board that cannot be read is named and the others go on. Trello checks the URL with a HEAD
request before it creates a webhook, so the worker must be running (`run --webhook`) and
reachable.
"""

from __future__ import annotations

from typing import TextIO

from worker.errors import ConfigError, RequestRejected
from worker.ops.common import table_lines
from worker.settings import Settings
from worker.trello.client import Json, Trello

DESCRIPTION = "incident-worker"


def _callback(settings: Settings) -> str:
    if not settings.webhook_callback_url:
        raise ConfigError(
            "INCIDENT_WEBHOOK_CALLBACK_URL is not set: it is the public URL Trello calls."
        )
    return settings.webhook_callback_url


def existing_for(hooks: list[Json], callback: str, model_id: str) -> Json | None:
    """The webhook that already calls `callback` for `model_id`, if there is one."""
    return next(
        (h for h in hooks if h.get("callbackURL") == callback and h.get("idModel") == model_id),
        None,
    )


def run_register(settings: Settings, out: TextIO) -> int:
    callback = _callback(settings)
    trello = Trello.from_settings(settings)
    problems = 0
    try:
        hooks = trello.webhooks()
        boards = trello.boards(settings.watched_boards)
        for board_id in settings.watched_boards:
            board = boards[board_id]
            if isinstance(board, Exception):
                problems += 1
                print(f"Board {board_id}: not registered ({board}).", file=out)
                continue
            name = board.get("name", board_id)
            kept = existing_for(hooks, callback, board["id"])
            if kept is not None:
                print(f"Board {name!r}: kept webhook {kept['id']} (calls {callback}).", file=out)
                continue
            try:
                made = trello.create_webhook(callback, board["id"], DESCRIPTION)
            except RequestRejected as exc:
                problems += 1
                print(
                    f"Board {name!r}: Trello refused the webhook ({exc}). Trello first checks "
                    f"the URL with a HEAD request: is `incident-worker run --webhook` running "
                    f"and reachable at {callback}?",
                    file=out,
                )
                continue
            print(f"Board {name!r}: registered webhook {made['id']} (calls {callback}).", file=out)
    finally:
        trello.close()
    return 1 if problems else 0


def run_list(settings: Settings, out: TextIO) -> int:
    trello = Trello.from_settings(settings)
    try:
        hooks = trello.webhooks()
    finally:
        trello.close()
    if not hooks:
        print("No webhooks.", file=out)
        return 0
    rows = [("ID", "MODEL", "CALLBACK", "ACTIVE")]
    rows += [
        (
            h["id"],
            h.get("idModel", ""),
            h.get("callbackURL", ""),
            "yes" if h.get("active") else "no",
        )
        for h in hooks
    ]
    for line in table_lines(rows):
        print(line, file=out)
    return 0


def run_delete(settings: Settings, out: TextIO, *, everything: bool) -> int:
    """Delete the webhooks calling INCIDENT_WEBHOOK_CALLBACK_URL (all of the token's: `--all`)."""
    callback = None if everything else _callback(settings)
    trello = Trello.from_settings(settings)
    try:
        doomed = [
            h for h in trello.webhooks() if callback is None or h.get("callbackURL") == callback
        ]
        for hook in doomed:
            trello.delete_webhook(hook["id"])
            print(f"Deleted webhook {hook['id']} (called {hook.get('callbackURL', '')}).", file=out)
    finally:
        trello.close()
    if not doomed:
        print("No webhooks to delete.", file=out)
    return 0
