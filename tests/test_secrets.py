"""No secret leaks: a whole run, faults and failures included, logged at DEBUG everywhere.

The key and tokens must show up in no log line (ours, py-trello's, urllib3's, the sandbox's),
no exception we raise, no repr of the objects that hold them, and not in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.factories import in_process_worker
from worker.demo import Person
from worker.errors import AuthError, NotFoundError, TrelloError, TrelloUnavailable
from worker.sandbox import Sandbox
from worker.settings import load_settings
from worker.trello.client import Trello
from worker.trello.session import Credentials, RetryPolicy, TrelloSession, hide_secrets_from_urllib3


def settings_from_lines(lines: list[str]) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def caught(call: Callable[[], object], errors: list[BaseException]) -> BaseException:
    """Run `call`, which must raise one of our Trello errors; keep the error; return it."""
    with pytest.raises(TrelloError) as info:
        call()
    errors.append(info.value)
    return info.value


def test_no_secret_appears_in_logs_errors_reprs_or_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    hide_secrets_from_urllib3()  # as the CLI's logging set-up does
    sb = Sandbox.seeded()
    key = sb.api_key
    token = sb.members["worker"].token
    alice_token = sb.members["alice"].token
    secrets = {"API key": key, "worker token": token, "alice's token": alice_token}
    errors: list[BaseException] = []
    slept: list[float] = []

    with sb.serve() as server:
        settings = load_settings(
            {
                **settings_from_lines(sb.settings_lines(server.url)),
                "INCIDENT_DATABASE_URL": f"sqlite:///{tmp_path}/w.sqlite3",
                "INCIDENT_POLL_SECONDS": "0.2",
                "INCIDENT_RECONCILE_SECONDS": "1",
                "INCIDENT_RETRY_ATTEMPTS": "3",
                "INCIDENT_REMINDER_SECONDS": "3600",
            },
            env_file=None,
        )
        alice = Person(sb, server.url, "alice")
        try:
            # The retry backoff sleeps through this hook: recorded, not waited for.
            with in_process_worker(settings, sleep=slept.append) as worker:
                trello = worker.trello
                board = sb.board_ids[0]
                card = alice.create_card(board, "Checkout is down")
                alice.label(card.id, "Incident")
                alice.comment(card.id, "/communicator @bob")
                worker.cycle(reconcile=True)
                worker.cycle(reconcile=True)

                worker_id = sb.members["worker"].id
                by_worker = [
                    a.data["text"]
                    for a in sb.state.card_actions(card.id)
                    if a.type == "commentCard" and a.member_id == worker_id
                ]
                assert any(text.startswith("**Incident declared**") for text in by_worker)
                assert any(text.startswith("Noted (communicator: @bob)") for text in by_worker)

                sb.faults.configure(error_rate=0.5, statuses=(429, 500, 503), drop_rate=0.2, seed=7)
                for _ in range(4):
                    worker.cycle(reconcile=True)
                sb.faults.configure(error_rate=1.0, statuses=(503,))
                unavailable = caught(trello.me, errors)
                assert isinstance(unavailable, TrelloUnavailable)
                # Trello lists webhooks under the token itself (/1/tokens/{token}/webhooks)
                assert isinstance(caught(trello.webhooks, errors), TrelloUnavailable)
                sb.faults.reset()
                assert trello.webhooks() == []

                wrong = Trello(
                    TrelloSession(
                        server.url,
                        credentials=Credentials(SecretStr(key), SecretStr("0" * 64)),
                        retry=RetryPolicy(attempts=1),
                    )
                )
                assert isinstance(caught(wrong.me, errors), AuthError)
                wrong.close()
                assert isinstance(caught(lambda: trello.card("a" * 24), errors), NotFoundError)
                assert isinstance(
                    caught(lambda: trello.board("nosuchboard"), errors), NotFoundError
                )
                worker.cycle(reconcile=True)
        finally:
            alice.close()

    statuses = [r.status for r in sb.request_log]
    assert {429, 500, 503} & set(statuses), "the faults were never hit"
    assert 0 in statuses, "no connection was dropped"
    assert slept, "no request was retried"
    assert any(
        r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in caplog.records
    ), "urllib3's DEBUG lines were not captured"
    retried = [r for r in caplog.records if r.name == "worker.trello.session"]
    assert any("retrying in" in r.getMessage() for r in retried)

    database = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("w.sqlite3*")))
    assert b"Checkout is down" in database  # the worker did write there
    places = {
        "the log": caplog.text,
        "the log records' arguments": repr([(r.msg, r.args) for r in caplog.records]),
        "repr(settings)": repr(settings),
        "repr(trello)": repr(trello),
        "repr(trello.session)": repr(trello.session),
        "repr(vars(trello.client))": repr(vars(trello.client)),
        "repr(worker.handler.executor)": repr(vars(worker.handler.executor)),
    }
    for number, error in enumerate(errors):
        places[f"str(error {number})"] = str(error)
        places[f"repr(error {number})"] = repr(error)
        places[f"vars(error {number})"] = repr(vars(error))
    assert len(errors) == 5
    for what, secret in secrets.items():
        for where, text in places.items():
            assert secret not in text, f"the {what} is in {where}"
        assert secret.encode() not in database, f"the {what} is in the database"
