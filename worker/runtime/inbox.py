"""Webhook deliveries, acknowledged at once and handled one at a time by the worker's thread.

The receiver's threads only verify a delivery and queue it: they never wait for the worker's
cycle (a cold start can take minutes), so Trello gets its 200 and `/healthz` its answer at
once. The queue is bounded: when it is full a delivery is left to the feed, which reads every
action anyway, and that is said once until the queue has room again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: Deliveries waiting at most; beyond, they are left to the feed.
WAITING = 1000

Payload = dict[str, Any]


class Inbox:
    """A queue of deliveries and the thread that hands them to `handle`, in order."""

    def __init__(
        self,
        handle: Callable[[Payload], None],
        *,
        idle: Callable[[], None] | None = None,
        size: int = WAITING,
    ):
        self.handle = handle
        #: called when no delivery waits any more (after one or many)
        self.idle = idle
        self._queue: queue.Queue[Payload | None] = queue.Queue(maxsize=size)
        self._thread = threading.Thread(target=self._run, name="deliveries", daemon=True)
        self._full = False

    def put(self, payload: Payload) -> None:
        """Queue a verified delivery (from the receiver's threads); never waits."""
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            if not self._full:
                logger.warning("webhook: too many deliveries waiting; the feed brings the rest")
            self._full = True
            return
        self._full = False

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop after the delivery in hand; those still waiting are left to the feed."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while (payload := self._queue.get()) is not None:
            try:
                self.handle(payload)
            except Exception:  # the feed brings the action again
                action = payload.get("action")
                ref = action.get("id") if isinstance(action, dict) else None
                logger.exception("webhook: handling action %s failed", ref)
            if self.idle is not None and self._queue.empty():
                try:
                    self.idle()
                except Exception:
                    logger.exception("webhook: after the deliveries")
