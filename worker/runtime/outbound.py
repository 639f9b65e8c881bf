"""Signed outbound webhooks: each incident event POSTed to `INCIDENT_OUTBOUND_URLS`.

What happened is read off the incident before and after each step (`core.happenings`); each
event is queued once per URL in the outbox (its key is the same however often the step is
looked at) and sent by the courier, signed per the Standard Webhooks specification
(`standardwebhooks`: `webhook-id`, `webhook-timestamp`, `webhook-signature`) with
`INCIDENT_OUTBOUND_SECRET`. At least once, with the same `webhook-id` on every try, so a
receiver that keeps the ids it has seen handles each event once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import SecretStr

from worker.core import happenings
from worker.core.model import Incident
from worker.store.database import Store
from worker.store.outbox import Parcel

#: The outbox's audience for webhooks (no audience of people is named so: it has a space).
WEBHOOKS = "outbound webhook"
#: Seconds a receiver may take to answer.
TIMEOUT = 10


class Outbound:
    """Queues each incident event for each outbound URL, and sends one (see the module doc)."""

    def __init__(self, store: Store, urls: Sequence[SecretStr], secret: SecretStr | None):
        self.store = store
        self.urls = urls
        self.secret = secret

    def queue(self, before: Incident | None, after: Incident, at: datetime) -> None:
        if not self.urls:
            return
        link = f"https://trello.com/c/{after.short_link}" if after.short_link else None
        for happened in happenings.between(before, after, at):
            payload = {
                "type": f"incident.{happened.kind.replace(' ', '_')}",
                "timestamp": happened.at.astimezone(UTC).isoformat(),
                "data": {
                    "id": happened.key,
                    "event": happened.kind,
                    "incident": after.name,
                    "card": after.card_id,
                    "card_url": link,
                    "board": after.board_id,
                    "phase": after.phase.value,
                    "severity": after.severity,
                    "lead": after.lead,
                    "communicator": after.communicator,
                    **happened.detail,
                },
            }
            for n, url in enumerate(self.urls):
                self.store.outbox.queue(
                    Parcel(
                        key=f"{happened.key}:{n}",
                        message=happened.key,
                        card_id=after.card_id,
                        audience=WEBHOOKS,
                        channel=n,
                        scheme=url.get_secret_value().split("://", 1)[0],
                        title=happened.kind,
                        body=json.dumps(payload, ensure_ascii=False),
                    )
                )

    def send(self, parcel: Parcel) -> str | None:
        """POST one queued event; None when the receiver took it (2xx), else why not."""
        from standardwebhooks import Webhook

        assert self.secret is not None  # the settings require it with URLs
        if parcel.channel >= len(self.urls):
            return "the URL is no longer in INCIDENT_OUTBOUND_URLS"
        now = datetime.now(UTC)
        signature = Webhook(self.secret.get_secret_value()).sign(parcel.key, now, parcel.body)
        request = urllib.request.Request(
            self.urls[parcel.channel].get_secret_value(),
            data=parcel.body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "webhook-id": parcel.key,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as refused:
            return f"the receiver answered {refused.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"the receiver could not be reached ({type(reason).__name__})"
        return None
