"""The sandbox's in-memory Trello: `SandboxState`, the store with all its write methods.

See `store` for the records, lock and recording, `cards` and `checklists` for the writes,
`webhooks` for the webhook registry.
"""

from __future__ import annotations

from worker.sandbox.cards import CardOps
from worker.sandbox.checklists import ChecklistOps
from worker.sandbox.store import BadRequest, NotFound, SandboxError, Unauthorized
from worker.sandbox.webhooks import WebhookOps

__all__ = ["BadRequest", "NotFound", "SandboxError", "SandboxState", "Unauthorized"]


class SandboxState(CardOps, ChecklistOps, WebhookOps):
    """Everything the sandbox knows and every change Trello can make to it."""

    #: seconds the HEAD check on a new webhook's callback URL may take
    callback_timeout: float = 5.0
