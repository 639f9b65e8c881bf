"""waitress serving a WSGI application in a background thread: the webhook receiver and the
overview pages alike.

waitress closes a connection idle for `CHANNEL_TIMEOUT` seconds, keeps up to `CONNECTIONS`
open and refuses bodies over `MAX_BODY`, so slow or idle clients cannot starve Trello's
deliveries, the pages or `/healthz`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20
#: Seconds a connection may sit idle before waitress closes it.
CHANNEL_TIMEOUT = 5
#: Connections waitress keeps open at once.
CONNECTIONS = 500

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) as a pair; ValueError with a sentence otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError("is not host:port, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


class HttpServer:
    """waitress serving `app` on `listen` (host:port; port 0 takes a free one)."""

    def __init__(self, app: Wsgi, listen: str, *, name: str, threads: int = 4):
        from waitress.server import create_server

        host, port = parse_listen(listen)
        self.name = name
        self.server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident=None,
            max_request_body_size=MAX_BODY,
            channel_timeout=CHANNEL_TIMEOUT,
            connection_limit=CONNECTIONS,
            cleanup_interval=CHANNEL_TIMEOUT,
        )
        self.port = int(self.server.effective_port)  # waitress gives it as a string
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the socket closed under the loop while stopping
            self.server.run()

    def start(self) -> None:
        self._thread.start()
        logger.info("%s listening on port %d", self.name, self.port)

    def stop(self) -> None:
        self.server.close()
        self._thread.join(timeout=10)
