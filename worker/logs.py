"""Log lines as text or as JSON, and the incident they are about.

`incident_context(card_id)` marks the work done inside it as being about one incident card;
every log record made meanwhile (in the same thread or task) carries that card id as
`record.card`. The JSON formatter writes one object per line:

    {"time": "2024-05-01T09:30:00.123Z", "level": "INFO", "logger": "worker.runtime.worker",
     "message": "...", "card": "5f1c..."}

with `card` only when there is one, and `exc` (the traceback, still on the same line) when the
record carries an exception. Handlers are configured by the CLI alone, through `configure`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_card: ContextVar[str | None] = ContextVar("incident_card", default=None)


@contextmanager
def incident_context(card_id: str) -> Iterator[None]:
    """Log records made inside this block carry `card_id` (nested blocks: the innermost)."""
    token = _card.set(card_id)
    try:
        yield
    finally:
        _card.reset(token)


def current_card() -> str | None:
    """The card id of the innermost `incident_context`, if any."""
    return _card.get()


class IncidentFilter(logging.Filter):
    """Sets `record.card` from the current incident context (unless the call passed one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "card", None) is None:
            record.card = _card.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, card, exc."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        data: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        card = getattr(record, "card", None) or _card.get()
        if card:
            data["card"] = str(card)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def make_handler(fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) in `fmt`, which carries the incident context."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(IncidentFilter())
    return handler


def configure(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record at `level` or above to `stream`, as text or JSON lines.

    The scheduler's own chatter (each run of a job; a run skipped because the previous one
    is still going, which is how a long cycle is meant to be handled) shows at DEBUG only, and
    Alembic's only when it goes wrong (`worker.store.schema` says what a migration did).
    """
    logging.basicConfig(level=getattr(logging, level), handlers=[make_handler(fmt, stream)])
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if level != "DEBUG":
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
