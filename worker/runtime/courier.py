"""The courier: the outbox's messages sent to people's channels (Apprise), once, with back-off.

Each cycle it tries the parcels whose turn has come (`store.outbox`): a try that works marks
the parcel sent, one that fails waits twice as long as the last, and after the outbox's
`MAX_TRIES` the parcel is given up. Once every channel of a message was tried, the card gets
one receipt (which channels, sent or failing); a channel given up gets one comment naming
the communicator, so the audience is told another way. The channels' URLs are secrets: they are
read from the settings when a parcel is sent and never logged, stored or shown beyond their
scheme (Apprise's own logging is silenced for that reason).

A worker killed between sending and recording sends that parcel again when it restarts
(at least once): Apprise's channels take no idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from pydantic import SecretStr

from worker.core.model import Comment, Incident, mention
from worker.runtime.executor import Executor
from worker.runtime.outbound import WEBHOOKS, Outbound
from worker.store.database import Store
from worker.store.outbox import Parcel

logger = logging.getLogger(__name__)
logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)  # it may name a URL's parts

#: Sends one message to one channel; None when it went, else a short reason (no URL in it).
Notify = Callable[[str, str, str], str | None]


def apprise_notify(url: str, title: str, body: str) -> str | None:
    import apprise

    sender = apprise.Apprise()
    try:
        if not sender.add(url):
            return "the channel's URL is not one Apprise knows"
        return None if sender.notify(title=title, body=body) else "the channel did not take it"
    except Exception as exc:  # a plugin's own failure: tried again later, like any other
        return f"sending failed ({type(exc).__name__})"


class Courier:
    """Sends what the outbox holds (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        channels: Mapping[str, Sequence[SecretStr]],
        *,
        notify: Notify = apprise_notify,
        outbound: Outbound | None = None,
    ):
        self.store = store
        self.executor = executor
        self.channels = channels
        self.notify = notify
        self.outbound = outbound

    def run(self, board_id: str) -> None:
        """Try every parcel of the board's incidents whose turn has come (the replica that
        holds a board sends its messages)."""
        for parcel in self.store.outbox.due():
            incident = self.store.incidents.get(parcel.card_id)
            if incident is None or incident.board_id != board_id:
                continue
            if parcel.audience == WEBHOOKS:
                self._post(parcel)
                continue
            urls = self.channels.get(parcel.audience, ())
            if parcel.channel >= len(urls):
                self._tried(parcel, "the channel is no longer in INCIDENT_CHANNELS", give_up=True)
                continue
            failed = self.notify(urls[parcel.channel].get_secret_value(), parcel.title, parcel.body)
            if failed is None:
                self.store.outbox.sent(parcel.key)
                logger.info(
                    "card %s: sent to %s (%s)", parcel.card_id, parcel.audience, parcel.scheme
                )
            self._tried(parcel, failed)

    def _post(self, parcel: Parcel) -> None:
        """An outbound webhook: sent, or tried again later; only the log says how it went."""
        if self.outbound is None:
            failed: str | None = "outbound webhooks are not set"
        else:
            failed = self.outbound.send(parcel)
        if failed is None:
            self.store.outbox.sent(parcel.key)
            logger.info(
                "card %s: %s posted (webhook %d)", parcel.card_id, parcel.title, parcel.channel + 1
            )
            return
        after = self.store.outbox.failed(parcel.key, failed)
        gave_up = after is not None and after.state == "failed"
        logger.warning(
            "card %s: posting %s to webhook %d failed: %s%s",
            parcel.card_id,
            parcel.title,
            parcel.channel + 1,
            failed,
            " (given up)" if gave_up else "",
        )

    def _tried(self, parcel: Parcel, failed: str | None, give_up: bool = False) -> None:
        if failed is not None:
            now = self.store.outbox.failed(parcel.key, failed, give_up=give_up)
            logger.warning(
                "card %s: sending to %s (%s) failed: %s",
                parcel.card_id,
                parcel.audience,
                parcel.scheme,
                failed,
            )
            if now is not None and now.state == "failed":
                self._given_up(now)
        self._receipt(parcel.message, parcel.card_id)

    def _receipt(self, message: str, card_id: str) -> None:
        parcels = self.store.outbox.of_message(message)
        incident = self.store.incidents.get(card_id)
        if incident is None or not parcels or any(p.attempts == 0 for p in parcels):
            return
        states = "; ".join(
            f"{p.scheme} {'sent' if p.state == 'sent' else 'failing, tried again later'}"
            if p.state != "failed"
            else f"{p.scheme} given up"
            for p in parcels
        )
        text = f"**Sent** to {parcels[0].audience}: {states}."
        self.executor.comment(incident, Comment(card_id, f"sent-{message}", text))

    def _given_up(self, parcel: Parcel) -> None:
        incident = self.store.incidents.get(parcel.card_id)
        if incident is None:
            return
        text = (
            f"{_who(incident)}: the {parcel.scheme} channel of {parcel.audience} kept failing "
            f"({parcel.attempts} tries: {parcel.error}); I gave up on it. Please tell them "
            "another way."
        )
        self.executor.comment(incident, Comment(parcel.card_id, f"given-up-{parcel.key}", text))


def _who(incident: Incident) -> str:
    return mention(incident.communicator or incident.lead) if incident.addressee else "Everyone"
