"""A local inbox: an SMTP server on loopback (aiosmtpd) that keeps the mail it is sent.

The demo shows a `/tell` arriving here, and the tests send e-mail through it: real SMTP, no
mail leaves the machine. `channel(to)` is the Apprise URL that sends to it.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Mail:
    """One message as received: its envelope's recipients, subject and plain-text body."""

    to: tuple[str, ...]
    subject: str
    body: str


class LocalInbox:
    """An SMTP server on 127.0.0.1 and a free port while in a `with` block; `mails` holds what
    it received, oldest first."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._mails: list[Mail] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._mails)

    def channel(self, to: str, sender: str = "incidents@example.com") -> str:
        """The Apprise URL that mails `to` through this server (plain SMTP, no login)."""
        return f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&from={sender}&to={to}&mode=insecure"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """aiosmtpd's hook: one message received."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        mail = Mail(tuple(envelope.rcpt_tos), str(message.get("Subject", "")), str(body))
        with self._lock:
            self._mails.append(mail)
        return "250 OK"

    def __enter__(self) -> Self:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # not every SMTP line
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()
