"""A local Trello-compatible server (the sandbox), for trying the worker and for tests.

It speaks the subset of Trello's REST API (`/1/...`) that py-trello and the worker use, with
Trello's JSON shapes and actions feed, delivers webhooks (signed with `sb.app_secret`), and can
inject faults (error statuses, latency, dropped connections and deliveries) and enforce
Trello's rate limits::

    from worker.sandbox import Sandbox

    sb = Sandbox.seeded(boards=1)
    with sb.serve() as server:          # a real HTTP server on a free port
        print(sb.settings_lines(server.url))

Modules: `model` (records and ids), `store` (the records, their lock, lookups and the actions
feed), `boards`/`cards`/`checklists`/`webhooks` (the writes, each handed the store), `state`
(`SandboxState`, which puts them together), `feed` (the actions feed query), `render`
(Trello's JSON), `faults` (fault injection, rate limits), `deliveries` (the webhook HEAD check
and delivery thread), `app` (the WSGI app), `routes` (the list of `/1/` routes), with their
handlers in `board_routes`, `card_routes`, `webhook_routes` and what those share in
`replies`, `server` (`Sandbox`, `serve_forever`), and `page` with `markdown` and
`templates/` (the boards as web pages at `/`, acting through the API as a person).
"""

from __future__ import annotations

from worker.sandbox.app import LoggedRequest
from worker.sandbox.deliveries import LoggedDelivery, sign
from worker.sandbox.faults import FaultConfig, Faults
from worker.sandbox.server import Sandbox, SandboxServer, SeededMember, serve_forever
from worker.sandbox.state import SandboxState

__all__ = [
    "FaultConfig",
    "Faults",
    "LoggedDelivery",
    "LoggedRequest",
    "Sandbox",
    "SandboxServer",
    "SandboxState",
    "SeededMember",
    "serve_forever",
    "sign",
]
