"""The webhook registry: create, change, delete, which webhooks an action goes to, and what
one delivery carries. `WebhookRegistry` is handed the records (`store.Store`), where the
webhooks are kept, and holds their lock.

As in Trello, a webhook belongs to the token that created it: only that token sees, changes or
deletes it, and one token cannot have two webhooks with the same callback URL and model. A
webhook watches a board (every action on it) or a card (the actions on that card). The HTTP
side (the HEAD check on creation, the deliveries) lives in `deliveries`; nothing here does I/O.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from worker.sandbox import render
from worker.sandbox.model import Action, Member, Webhook
from worker.sandbox.store import JSON, BadRequest, NotFound, Store

DUPLICATE = "A webhook with that callback, model, and token already exists"


def check_callback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest("invalid value for callbackURL")
    return url


class WebhookRegistry:
    """The webhook registry (see the module docstring)."""

    def __init__(self, records: Store):
        self.records = records

    def webhook(self, webhook_id: str, actor: Member) -> Webhook:
        """The webhook with that id, if `actor`'s token owns it."""
        with self.records.lock:
            hook = self.records.webhooks.get(webhook_id)
            if hook is None or hook.token != actor.token:
                raise NotFound()
            return hook

    def token_webhooks(self, token: str) -> list[Webhook]:
        with self.records.lock:
            return [hook for hook in self.records.webhooks.values() if hook.token == token]

    def webhook_model(self, id_model: str) -> str:
        """The id of the board or card `id_model` names (an id or a short link)."""
        with self.records.lock:
            for lookup in (self.records.board, self.records.card):
                try:
                    return lookup(id_model).id
                except NotFound:
                    pass
        raise BadRequest("invalid value for idModel")

    def check_webhook(
        self, actor: Member, callback_url: str, id_model: str, *, exclude: str | None = None
    ) -> str:
        """Refuse what Trello refuses before it even tries the callback; return the model id."""
        check_callback_url(callback_url)
        with self.records.lock:
            model_id = self.webhook_model(id_model)
            for hook in self.records.webhooks.values():
                same = (hook.token, hook.callback_url, hook.id_model)
                if hook.id != exclude and same == (actor.token, callback_url, model_id):
                    raise BadRequest(DUPLICATE)
            return model_id

    def create_webhook(
        self,
        actor: Member,
        callback_url: str,
        id_model: str,
        description: str = "",
        active: bool = True,
    ) -> Webhook:
        """Register a webhook (the caller has already had the callback answer its HEAD)."""
        with self.records.lock:
            model_id = self.check_webhook(actor, callback_url, id_model)
            hook = Webhook(
                id=self.records.ids.new_id(),
                token=actor.token,
                member_id=actor.id,
                id_model=model_id,
                callback_url=callback_url,
                description=description,
                active=active,
            )
            self.records.webhooks[hook.id] = hook
            return hook

    def update_webhook(self, hook: Webhook, actor: Member, changes: dict[str, Any]) -> Webhook:
        """Apply `changes` (description, callbackURL, idModel, active)."""
        with self.records.lock:
            callback_url = changes.get("callbackURL", hook.callback_url)
            id_model = changes.get("idModel", hook.id_model)
            model_id = self.check_webhook(actor, callback_url, id_model, exclude=hook.id)
            hook.callback_url, hook.id_model = callback_url, model_id
            if "description" in changes:
                hook.description = changes["description"]
            if "active" in changes:
                if changes["active"] and not hook.active:
                    hook.consecutive_failures = 0
                    hook.first_consecutive_fail_date = None
                hook.active = changes["active"]
            return hook

    def delete_webhook(self, webhook_id: str) -> bool:
        with self.records.lock:
            return self.records.webhooks.pop(webhook_id, None) is not None

    def matching_webhooks(self, action: Action) -> list[Webhook]:
        """The active webhooks that `action` is delivered to."""
        with self.records.lock:
            models = {action.board_id, action.card_id} - {None}
            return [h for h in self.records.webhooks.values() if h.active and h.id_model in models]

    def delivery_body(self, webhook_id: str, action_id: str) -> tuple[Webhook, JSON] | None:
        """The webhook and what a delivery of the action to it carries, or None when the
        webhook is gone or inactive. The model is rendered as it is now, as Trello does.
        """
        with self.records.lock:
            hook = self.records.webhooks.get(webhook_id)
            if hook is None or not hook.active:
                return None
            action = self.records.action(action_id)
            if hook.id_model in self.records.boards:
                board = self.records.boards[hook.id_model]
                model = render.board(board, self.records.board_labels(board.id))
            elif hook.id_model in self.records.cards:
                model = render.card(self.records.cards[hook.id_model], self.records)
            else:  # the card is gone (deleteCard): what the action remembers of it
                model = dict(action.data.get("card") or {"id": hook.id_model})
            body = {
                "action": {  # webhook copies carry `display`; the REST feed's do not
                    **render.action(action, self.records),
                    "display": render.display(action, self.records),
                },
                "model": model,
                "webhook": render.webhook_ref(hook),
            }
            return hook, body

    def webhook_delivered(self, webhook_id: str) -> None:
        with self.records.lock:
            hook = self.records.webhooks.get(webhook_id)
            if hook is not None:
                hook.consecutive_failures = 0
                hook.first_consecutive_fail_date = None

    def webhook_failed(self, webhook_id: str, deactivate_after: int) -> None:
        """One delivery given up on; after `deactivate_after` in a row the webhook is off."""
        with self.records.lock:
            hook = self.records.webhooks.get(webhook_id)
            if hook is None:
                return
            if hook.consecutive_failures == 0:
                hook.first_consecutive_fail_date = self.records.clock()
            hook.consecutive_failures += 1
            if hook.consecutive_failures >= deactivate_after:
                hook.active = False
