"""The sandbox's in-memory Trello: `SandboxState`, the store with all its write methods.

See `store` for the records, lock and recording, `cards` and `checklists` for the writes.
"""

from __future__ import annotations

from worker.sandbox.cards import CardOps
from worker.sandbox.checklists import ChecklistOps
from worker.sandbox.store import BadRequest, NotFound, SandboxError

__all__ = ["BadRequest", "NotFound", "SandboxError", "SandboxState"]


class SandboxState(CardOps, ChecklistOps):
    """Everything the sandbox knows and every change Trello can make to it."""
