"""Webhooks over HTTP: the HEAD check on creation, and `DeliveryWorker`, which POSTs actions.

As Trello does: a webhook is created only if its callback URL answers a HEAD with 200. Each
action recorded on a watched model is POSTed to the callback as JSON `{"action", "model",
"webhook"}`, signed in `X-Trello-Webhook` with base64(HMAC-SHA1(app secret, body + callback
URL)). A 2xx is a delivery; 410 deletes the webhook; anything else (another status, a timeout,
a refused connection) is tried again after each of `retry_delays`, then given up on, which
counts one failure on the webhook (`deactivate_after` in a row switch it off).

`DeliveryWorker` is one thread with one queue per callback URL: deliveries to a callback go
in the order their actions were recorded, and a callback waiting to retry does not hold up the
others. The records' lock is held only to read what to send and to record the outcome, never
during HTTP. Every attempt lands in the delivery log (`LoggedDelivery`).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests

from worker.sandbox.faults import Faults
from worker.sandbox.model import Action, iso, utc_now
from worker.sandbox.store import BadRequest
from worker.sandbox.webhooks import WebhookRegistry

logger = logging.getLogger(__name__)

DELIVERED, RETRYING, FAILED, DELETED, DROPPED, SKIPPED = (
    "delivered",
    "retrying",
    "failed",
    "deleted",
    "dropped",
    "skipped",
)
USER_AGENT = "trello-sandbox-webhooks"


def sign(secret: str, body: bytes, callback_url: str) -> str:
    """Trello's `X-Trello-Webhook`: base64(HMAC-SHA1(secret, body + callback URL as UTF-8))."""
    digest = hmac.new(secret.encode(), body + callback_url.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


def verify_callback(url: str, timeout: float = 5.0) -> None:
    """Trello's check before creating a webhook: a HEAD to `url` must get 200."""
    try:
        with (
            requests.Session() as session,
            session.head(
                url, timeout=timeout, allow_redirects=False, headers={"User-Agent": USER_AGENT}
            ) as response,
        ):
            status = response.status_code
    except requests.RequestException as exc:
        raise BadRequest(
            f"URL ({url}) did not return 200 status code, got no response ({type(exc).__name__})"
        ) from None
    if status != 200:
        raise BadRequest(f"URL ({url}) did not return 200 status code, got {status}")


@dataclass(frozen=True)
class LoggedDelivery:
    """One delivery attempt. `outcome`: delivered, retrying (will be tried again), failed
    (given up), deleted (410: webhook deleted), dropped (a sandbox fault: not sent), skipped
    (the webhook was deleted or deactivated before its turn: not sent).
    """

    webhook_id: str
    callback_url: str
    action_id: str
    status: int | None
    error: str | None
    attempt: int
    time: datetime
    outcome: str

    def as_json(self) -> dict[str, object]:
        return {
            "webhook": self.webhook_id,
            "callbackURL": self.callback_url,
            "action": self.action_id,
            "status": self.status,
            "error": self.error,
            "attempt": self.attempt,
            "time": iso(self.time),
            "outcome": self.outcome,
        }


@dataclass
class _Job:
    webhook_id: str
    action_id: str
    attempt: int = 1


class DeliveryWorker:
    """The delivery thread and its queues (see the module docstring); thread-safe."""

    def __init__(
        self,
        webhooks: WebhookRegistry,
        faults: Faults,
        secret: str,
        *,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        timeout: float = 5.0,
        deactivate_after: int = 20,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.webhooks = webhooks
        self.faults = faults
        self.secret = secret
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.deactivate_after = deactivate_after
        self.clock = clock
        self._cond = threading.Condition()
        self._queues: dict[str, collections.deque[_Job]] = {}
        self._ready_at: dict[str, float] = {}
        self._pending = 0
        self._paused = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._log: list[LoggedDelivery] = []

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (idempotent)."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="trello-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread once its current attempt is done; undelivered jobs stay queued."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join()

    def pause(self) -> None:
        """Queue deliveries without sending them until `resume`."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or being sent; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return self._pending

    def logged(self) -> list[LoggedDelivery]:
        with self._cond:
            return list(self._log)

    def clear_log(self) -> None:
        with self._cond:
            self._log.clear()

    # -- queueing (called by the records, under their lock) ----------------------------------

    def on_action(self, action: Action) -> None:
        hooks = self.webhooks.matching_webhooks(action)
        if not hooks:
            return
        with self._cond:
            for hook in hooks:
                queue = self._queues.setdefault(hook.callback_url, collections.deque())
                queue.append(_Job(hook.id, action.id))
                self._pending += 1
            self._cond.notify_all()

    # -- the thread -------------------------------------------------------------------------

    def _next(self) -> tuple[str, _Job] | None:
        """The job to try now (the caller holds the condition), or None after waiting."""
        if self._paused:
            self._cond.wait()
            return None
        now = time.monotonic()
        chosen: str | None = None
        soonest: float | None = None
        for url, queue in self._queues.items():
            if not queue:
                continue
            ready = self._ready_at.get(url, 0.0)
            if soonest is None or ready < soonest:
                chosen, soonest = url, ready
        if chosen is None or soonest is None:
            self._cond.wait()
            return None
        if soonest > now:
            self._cond.wait(soonest - now)
            return None
        return chosen, self._queues[chosen][0]

    def _run(self) -> None:
        with requests.Session() as session:
            while True:
                with self._cond:
                    if self._stopping:
                        return
                    found = self._next()
                if found is not None:
                    url, job = found
                    try:
                        retry_in = self._attempt(session, url, job)
                    except Exception:  # never let one delivery kill the thread
                        logger.exception("sandbox: webhook delivery crashed")
                        retry_in = None
                    self._done(url, job, retry_in)

    def _done(self, url: str, job: _Job, retry_in: float | None) -> None:
        with self._cond:
            if retry_in is not None:
                job.attempt += 1
                self._ready_at[url] = time.monotonic() + retry_in
                return
            queue = self._queues[url]
            queue.popleft()
            self._ready_at.pop(url, None)
            if not queue:
                del self._queues[url]
            self._pending -= 1
            self._cond.notify_all()

    def _record(
        self,
        job: _Job,
        url: str,
        outcome: str,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        entry = LoggedDelivery(
            job.webhook_id, url, job.action_id, status, error, job.attempt, self.clock(), outcome
        )
        with self._cond:
            self._log.append(entry)
        logger.debug("sandbox: webhook %s attempt %d: %s", job.webhook_id, job.attempt, outcome)

    def _attempt(self, session: requests.Session, queued_url: str, job: _Job) -> float | None:
        """Try `job` once; return the delay before the next try, or None when it is done."""
        found = self.webhooks.delivery_body(job.webhook_id, job.action_id)
        if found is None:
            self._record(job, queued_url, SKIPPED, error="webhook deleted or inactive")
            return None
        hook, payload = found
        url = hook.callback_url
        if job.attempt == 1 and self.faults.drop_delivery():
            self._record(job, url, DROPPED, error="sandbox fault: delivery dropped")
            return None
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Trello-Webhook": sign(self.secret, body, url),
        }
        status: int | None = None
        error: str | None = None
        try:
            with session.post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                status = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        if status is not None and 200 <= status < 300:
            self.webhooks.webhook_delivered(hook.id)
            self._record(job, url, DELIVERED, status)
            return None
        if status == 410:
            self.webhooks.delete_webhook(hook.id)
            self._record(job, url, DELETED, status)
            return None
        if job.attempt <= len(self.retry_delays):
            self._record(job, url, RETRYING, status, error)
            return self.retry_delays[job.attempt - 1]
        self.webhooks.webhook_failed(hook.id, self.deactivate_after)
        self._record(job, url, FAILED, status, error)
        return None
