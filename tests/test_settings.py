from __future__ import annotations

import logging
from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.settings import load_settings

GOOD = {"TRELLO_API_KEY": "k" * 32, "TRELLO_TOKEN": "t" * 64, "TRELLO_BOARD_ID": "b1"}


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRELLO_BOARD_ID", " b1, b2 ,,b3")
    monkeypatch.setenv("INCIDENT_POLL_SECONDS", "1.5")
    settings = load_settings()
    assert settings.trello_board_ids == ["b1", "b2", "b3"]
    assert settings.poll_seconds == 1.5
    assert settings.trello_api_url == "https://api.trello.com/1"
    assert settings.trello_token.get_secret_value() == "t" * 64


def test_reads_a_dotenv_file_and_overrides_win(tmp_path: Path) -> None:
    env = tmp_path / "worker.env"
    env.write_text(
        "".join(f"{k}={v}\n" for k, v in GOOD.items()) + "TRELLO_API_URL=http://127.0.0.1:9/1/\n"
    )
    settings = load_settings({"TRELLO_BOARD_ID": "other"}, env_file=env)
    assert settings.trello_board_ids == ["other"]
    assert settings.trello_api_url == "http://127.0.0.1:9/1"


def test_missing_env_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"settings file .*nope.env does not exist"):
        load_settings(env_file=tmp_path / "nope.env")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"TRELLO_API_KEY": None},
            "TRELLO_API_KEY is not set: put it in the environment or in .env.",
        ),
        ({"TRELLO_BOARD_ID": " , "}, "TRELLO_BOARD_ID names no board (got ' , ')."),
        ({"TRELLO_API_URL": "ftp://x"}, "TRELLO_API_URL is not an http(s) URL (got 'ftp://x')."),
        (
            {"INCIDENT_MEETING_URL": "zoom.us/j/123"},
            "INCIDENT_MEETING_URL is not an http(s) URL people can open (got 'zoom.us/j/123').",
        ),
        (
            {"INCIDENT_TEMPLATE_URL": "/srv/runbook.md"},
            "INCIDENT_TEMPLATE_URL is not an http(s) URL people can open (got '/srv/runbook.md').",
        ),
        ({"INCIDENT_POLL_SECONDS": "0"}, "INCIDENT_POLL_SECONDS must be at least 0.1 (got '0')."),
        ({"INCIDENT_RATE_LIMIT": "-5"}, "INCIDENT_RATE_LIMIT must be greater than 0 (got '-5')."),
        ({"INCIDENT_RETRY_ATTEMPTS": "many"}, "INCIDENT_RETRY_ATTEMPTS must be a valid integer"),
        ({"INCIDENT_REMINDER_SECONDS": "0"}, "INCIDENT_REMINDER_SECONDS must be at least 0.5"),
        (
            {"INCIDENT_STATUS_UPDATE_SECONDS": "-60"},
            "INCIDENT_STATUS_UPDATE_SECONDS must be at least 0.5",
        ),
        (
            {"INCIDENT_ROLE_REMINDER_SECONDS": "-1"},
            "INCIDENT_ROLE_REMINDER_SECONDS must be at least 0.5",
        ),
        ({"INCIDENT_WEB_LISTEN": "8090"}, "INCIDENT_WEB_LISTEN is not host:port"),
        (
            {"INCIDENT_WEB_LISTEN": "0.0.0.0:8090"},
            "INCIDENT_WEB_LISTEN 0.0.0.0:8090 is reachable from other machines: set "
            "INCIDENT_WEB_PASSWORD (the pages ask for it), or listen on 127.0.0.1.",
        ),
        (
            {
                "INCIDENT_WEB_LISTEN": "127.0.0.1:8080",
                "INCIDENT_WEBHOOK": "true",
                "INCIDENT_WEBHOOK_CALLBACK_URL": "https://x.example/hook",
                "TRELLO_APP_SECRET": "s" * 32,
            },
            "INCIDENT_WEB_LISTEN and INCIDENT_WEBHOOK_LISTEN are the same address",
        ),
    ],
)
def test_bad_settings_get_one_sentence_naming_them(
    overrides: dict[str, str | None], message: str
) -> None:
    values = {**GOOD, **overrides}
    given = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        load_settings(given, env_file=None)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("listen", "password", "served"),
    [
        ("127.0.0.1:8090", None, "127.0.0.1:8090"),
        ("localhost:8090", None, "localhost:8090"),
        ("[::1]:8090", None, "[::1]:8090"),
        ("0.0.0.0:8090", "pw", "0.0.0.0:8090"),
        ("", None, None),  # off
    ],
)
def test_the_pages_beyond_loopback_need_a_password(
    listen: str, password: str | None, served: str | None
) -> None:
    extra = {"INCIDENT_WEB_PASSWORD": password} if password else {}
    settings = load_settings({**GOOD, "INCIDENT_WEB_LISTEN": listen, **extra}, env_file=None)
    assert settings.web_listen == served


def test_cadences_take_any_positive_number_of_seconds() -> None:
    settings = load_settings(
        {**GOOD, "INCIDENT_REMINDER_SECONDS": "1", "INCIDENT_STATUS_UPDATE_SECONDS": "0.5"},
        env_file=None,
    )
    assert (settings.reminder_seconds, settings.status_update_seconds) == (1.0, 0.5)
    assert settings.role_reminder_seconds is None  # the template's, else the default


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**GOOD, "TRELLO_TOKEN": ["not", "a", "string"]}, env_file=None)  # type: ignore[dict-item]
    assert "TRELLO_TOKEN" in str(caught.value)
    assert "not" not in str(caught.value).replace("TRELLO_TOKEN", "")
    settings = load_settings(GOOD, env_file=None)
    assert "t" * 64 not in repr(settings)
    assert "k" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("where", "name", "expected"),
    [
        (
            "environment",
            "INCIDENT_REMINDERS_SECONDS",
            "INCIDENT_REMINDERS_SECONDS (in the environment) is not a setting of incident-worker: "
            "did you mean INCIDENT_REMINDER_SECONDS?",
        ),
        (
            "environment",
            "INCIDNET_LABEL",  # our prefix mistyped
            "INCIDNET_LABEL (in the environment) is not a setting of incident-worker: "
            "did you mean INCIDENT_LABEL?",
        ),
        (
            "environment",
            "INCIDENT_SOMETHING",
            "INCIDENT_SOMETHING (in the environment) is not a setting of incident-worker "
            "(the README lists the settings).",
        ),
        (
            "set",
            "INCIDENT_POLL_SECOND",
            "INCIDENT_POLL_SECOND (given with --set) is not a setting of incident-worker: "
            "did you mean INCIDENT_POLL_SECONDS?",
        ),
        (
            "set",
            "TRELLO_BOARD",
            "TRELLO_BOARD (given with --set) is not a setting of incident-worker: "
            "did you mean TRELLO_BOARD_ID?",
        ),
        (
            "file",
            "TRELLO_BOARDS_ID",
            "TRELLO_BOARDS_ID (in {file}, line 4) is not a setting of incident-worker: "
            "did you mean TRELLO_BOARD_ID?",
        ),
    ],
)
def test_a_name_that_is_no_setting_stops_with_the_closest_one(
    where: str, name: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "worker.env"
    lines = [f"{k}={v}" for k, v in GOOD.items()]
    if where == "file":
        lines.append(f"export {name}=x")
    env.write_text("\n".join(lines) + "\n")
    if where == "environment":
        monkeypatch.setenv(name, "x")
    overrides = {name: "x"} if where == "set" else {}
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides, env_file=env)
    assert str(caught.value) == expected.format(file=env)


def test_another_tools_trello_name_in_the_environment_is_a_warning_when_close(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TRELLO_TOKN", "x")  # close to TRELLO_TOKEN: worth a word
    monkeypatch.setenv("TRELLO_CLI_PROFILE", "work")  # another tool's: none
    settings = load_settings(GOOD, env_file=None)
    assert settings.trello_token.get_secret_value() == GOOD["TRELLO_TOKEN"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "TRELLO_TOKN (in the environment) is not a setting of incident-worker: "
        "did you mean TRELLO_TOKEN?"
    ]


def test_the_default_database_is_in_the_users_state_folder_wherever_the_worker_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    seen = set()
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        seen.add(load_settings(GOOD, env_file=None).database_url)
    assert seen == {f"sqlite:///{tmp_path}/state/incident-worker/incident-worker.sqlite3"}
