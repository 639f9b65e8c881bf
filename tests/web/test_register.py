"""`incident-worker webhook register` over many boards: read ten to a request, safe to run
again, and a board that cannot be read named while the others are registered."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.factories import sandbox_values
from worker.ops.webhooks import run_register
from worker.sandbox import Sandbox
from worker.settings import load_settings

MISSING = "f" * 24


class Answers200(BaseHTTPRequestHandler):
    """Trello's check of a callback URL (HEAD) gets 200."""

    def do_HEAD(self) -> None:  # noqa: N802 (the standard library's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@contextmanager
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers200)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/trello/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_register_covers_every_watched_board_and_again_keeps_them(tmp_path: Path) -> None:
    sb = Sandbox.seeded(boards=12)
    with sb.serve() as server, receiver() as callback:
        values = sandbox_values(
            sb,
            server,
            f"sqlite:///{tmp_path}/w.sqlite3",
            TRELLO_BOARD_ID=",".join([*sb.board_ids, MISSING]),
            INCIDENT_WEBHOOK_CALLBACK_URL=callback,
        )
        settings = load_settings(values, env_file=None)
        sb.clear_request_log()
        out = io.StringIO()
        assert run_register(settings, out) == 1  # the board that cannot be read
        lines = out.getvalue().splitlines()
        assert sum("registered webhook" in line for line in lines) == 12
        (missing,) = [line for line in lines if MISSING in line]
        assert "not registered" in missing and "TRELLO_BOARD_ID" in missing
        requests = [(e.method, e.path) for e in sb.request_log if not e.batched]
        assert requests.count(("GET", "/1/batch")) == 2  # 13 boards, ten a request
        assert not [p for m, p in requests if m == "GET" and p.startswith("/1/boards/")]
        assert requests.count(("POST", "/1/webhooks")) == 12

        sb.clear_request_log()
        again = io.StringIO()
        assert run_register(settings, again) == 1
        assert sum("kept webhook" in line for line in again.getvalue().splitlines()) == 12
        assert not [e for e in sb.request_log if e.method == "POST"]
