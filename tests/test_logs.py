"""Log lines as JSON: the fields, the incident's card from the context, exceptions on one line."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from worker.logs import JsonFormatter, current_card, incident_context, make_handler


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    logger = logging.getLogger("worker.test_logs")
    handler = make_handler("json", out)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_fields(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_log
    logger.info("board %s: %d cards", "Ops", 3)
    (record,) = records(out)
    assert set(record) == {"time", "level", "logger", "message"}
    assert record["level"] == "INFO"
    assert record["logger"] == "worker.test_logs"
    assert record["message"] == "board Ops: 3 cards"
    time = str(record["time"])
    assert time.endswith("Z") and "T" in time and len(time) == len("2026-03-02T09:00:00.000Z")


def test_the_card_comes_from_the_context_innermost_first(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = json_log
    with incident_context("card1"):
        logger.info("one")
        with incident_context("card2"):
            logger.info("two")
            assert current_card() == "card2"
        logger.info("three")
    logger.info("four")
    assert current_card() is None
    assert [r.get("card") for r in records(out)] == ["card1", "card2", "card1", None]


def test_the_context_belongs_to_its_thread(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_log
    with incident_context("card1"):
        thread = threading.Thread(target=lambda: logger.info("elsewhere"))
        thread.start()
        thread.join()
    assert records(out)[0].get("card") is None


def test_an_exception_goes_into_exc_on_the_same_line(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = json_log
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logger.exception("board %s: unexpected error", "Ops")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    (record,) = records(out)
    assert record["message"] == "board Ops: unexpected error"
    assert str(record["exc"]).startswith("Traceback")
    assert "ValueError: bad\nthing" in str(record["exc"])


def test_the_formatter_alone_reads_the_context() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hi %s", ("you",), None)
    with incident_context("c9"):
        data = json.loads(JsonFormatter().format(record))
    assert data["card"] == "c9" and data["message"] == "hi you" and data["level"] == "WARNING"


def test_text_format_is_unchanged() -> None:
    out = io.StringIO()
    handler = make_handler("text", out)
    record = logging.LogRecord("worker.x", logging.INFO, __file__, 1, "hello", None, None)
    handler.handle(record)
    assert out.getvalue().rstrip("\n").endswith("INFO    worker.x: hello")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        make_handler("xml")


def test_importing_the_gateway_installs_no_log_filter() -> None:
    code = (
        "import logging, worker.trello.client; "
        "print(len(logging.getLogger('urllib3.connectionpool').filters))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"


def test_the_clis_logging_set_up_hides_secrets_from_urllib3() -> None:
    from worker import cli
    from worker.trello import session

    urllib3 = logging.getLogger("urllib3.connectionpool")
    before = list(urllib3.filters)
    for old in before:
        urllib3.removeFilter(old)
    try:
        cli.configure_logging("INFO")
        cli.configure_logging("INFO")
        (installed,) = urllib3.filters
        assert isinstance(installed, session.SecretsFilter)
        session.TrelloSession(
            "http://127.0.0.1:9/1",
            credentials=session.Credentials(SecretStr("k" * 32), SecretStr("t" * 64)),
        )
        record = logging.LogRecord(
            "urllib3.connectionpool",
            logging.DEBUG,
            __file__,
            1,
            "GET /1/tokens/%s/x",
            ("t" * 64,),
            None,
        )
        assert installed.filter(record) and record.getMessage() == "GET /1/tokens/***/x"
    finally:
        for new in list(urllib3.filters):
            urllib3.removeFilter(new)
        for old in before:
            urllib3.addFilter(old)
