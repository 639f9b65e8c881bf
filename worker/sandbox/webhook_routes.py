"""Routes for webhooks: `/1/webhooks` and py-trello's `/1/tokens/{token}/webhooks`.

Creating a webhook, or pointing one at a new callback URL, first sends the callback a HEAD
(without holding the state's lock) and goes ahead only on a 200, as Trello does. A token sees
and changes only its own webhooks; `/tokens/{token}/...` with another token than the caller's
is refused with 401.
"""

from __future__ import annotations

from typing import Any

from worker.sandbox import render
from worker.sandbox.app import Context
from worker.sandbox.deliveries import verify_callback
from worker.sandbox.replies import DELETED, required
from worker.sandbox.state import BadRequest, Unauthorized
from worker.sandbox.webhooks import check_callback_url


def _own_token(ctx: Context, token: str | None) -> None:
    if token is not None and token != ctx.actor.token:
        raise Unauthorized("invalid token")


def create_webhook(ctx: Context, token: str | None = None) -> Any:
    _own_token(ctx, token)
    p = ctx.params
    callback_url = required(p, "callbackURL")
    id_model = required(p, "idModel")
    active = p.flag("active") if "active" in p else True
    ctx.state.webhook_registry.check_webhook(ctx.actor, callback_url, id_model)
    verify_callback(callback_url, ctx.state.callback_timeout)
    hook = ctx.state.webhook_registry.create_webhook(
        ctx.actor, callback_url, id_model, p.text("description") or "", active is not False
    )
    return render.webhook(hook)


def token_webhooks(ctx: Context, token: str) -> Any:
    _own_token(ctx, token)
    return [render.webhook(hook) for hook in ctx.state.webhook_registry.token_webhooks(token)]


def get_webhook(ctx: Context, webhook_id: str, token: str | None = None) -> Any:
    _own_token(ctx, token)
    return render.webhook(ctx.state.webhook_registry.webhook(webhook_id, ctx.actor))


def get_webhook_field(ctx: Context, webhook_id: str, field: str) -> Any:
    body = render.webhook(ctx.state.webhook_registry.webhook(webhook_id, ctx.actor))
    if field not in body:
        raise BadRequest(f"invalid value for field: {field}")
    return {"_value": body[field]}


def update_webhook(ctx: Context, webhook_id: str, token: str | None = None) -> Any:
    _own_token(ctx, token)
    p = ctx.params
    hook = ctx.state.webhook_registry.webhook(webhook_id, ctx.actor)
    changes: dict[str, Any] = {}
    for name in ("callbackURL", "idModel"):
        if name in p:
            changes[name] = required(p, name)
    if "description" in p:
        changes["description"] = p.text("description") or ""
    if "active" in p:
        changes["active"] = p.flag("active")
        if changes["active"] is None:
            raise BadRequest("invalid value for active")
    callback_url = changes.get("callbackURL")
    if callback_url is not None and callback_url != hook.callback_url:
        check_callback_url(callback_url)
        ctx.state.webhook_registry.check_webhook(
            ctx.actor, callback_url, changes.get("idModel", hook.id_model), exclude=hook.id
        )
        verify_callback(callback_url, ctx.state.callback_timeout)
    return render.webhook(ctx.state.webhook_registry.update_webhook(hook, ctx.actor, changes))


def delete_webhook(ctx: Context, webhook_id: str, token: str | None = None) -> Any:
    _own_token(ctx, token)
    ctx.state.webhook_registry.delete_webhook(
        ctx.state.webhook_registry.webhook(webhook_id, ctx.actor).id
    )
    return DELETED
