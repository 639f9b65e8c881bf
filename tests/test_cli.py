"""The command line as a real process: exit codes and one-line messages, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from worker import __version__
from worker.sandbox import Sandbox, SandboxServer


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLO_", "INCIDENT_"))}
    env.update(settings)
    return env


def run_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=clean_env() if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single `incident-worker: ...` line on stderr (and nothing else there)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("incident-worker: ")
    return line


def final_error(result: subprocess.CompletedProcess[str]) -> str:
    """The `incident-worker: ...` line that ends stderr, after the run's own log lines."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("incident-worker: ")]
    assert errors == lines[-1:], result.stderr
    return errors[0]


FAKE_TRELLO = {"TRELLO_API_KEY": "k" * 32, "TRELLO_TOKEN": "t" * 64, "TRELLO_BOARD_ID": "b1"}


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, SandboxServer]]:
    sb = Sandbox.seeded()
    with sb.serve() as server:
        yield sb, server


def sandbox_env(
    sb: Sandbox, server: SandboxServer, tmp_path: Path, **settings: str
) -> dict[str, str]:
    values = {
        "TRELLO_API_URL": server.url,
        "TRELLO_API_KEY": sb.api_key,
        "TRELLO_TOKEN": sb.members["worker"].token,
        "TRELLO_BOARD_ID": ",".join(sb.board_ids),
        "INCIDENT_DATABASE_URL": f"sqlite:///{tmp_path}/w.sqlite3",
        "INCIDENT_RETRY_ATTEMPTS": "1",
    }
    values.update(settings)
    return clean_env(**values)


# -- settings and input files: exit 2 -------------------------------------------------------


def test_no_settings_names_the_three_missing_ones(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", "--once")
    assert result.returncode == 2
    line = one_line_error(result)
    for name in ("TRELLO_API_KEY", "TRELLO_TOKEN", "TRELLO_BOARD_ID"):
        assert name in line
    assert result.stdout == ""


def test_a_bad_value_set_on_the_command_line_is_named(tmp_path: Path) -> None:
    env = clean_env(**FAKE_TRELLO)
    result = run_cli(tmp_path, "--set", "INCIDENT_POLL_SECONDS=0", "run", "--once", env=env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "INCIDENT_POLL_SECONDS" in line
    assert "'0'" in line  # the value it got (not a secret, so shown)


def test_set_without_an_equals_sign_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--set", "nonsense", "run", "--once", env=clean_env(**FAKE_TRELLO))
    assert result.returncode == 2
    assert "nonsense" in one_line_error(result)


def test_a_mistyped_setting_in_the_environment_stops_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from worker import cli

    for name, value in {**FAKE_TRELLO, "INCIDNET_LABEL": "Outage"}.items():
        monkeypatch.setenv(name, value)
    for command in (["check"], ["run", "--once"], ["status"], ["report", "abc"]):
        assert cli.main(command) == 2
        assert capsys.readouterr().err == (
            "incident-worker: INCIDNET_LABEL (in the environment) is not a setting of "
            "incident-worker: did you mean INCIDENT_LABEL?\n"
        )


def test_declare_without_a_title_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "declare", "  ", env=clean_env(**FAKE_TRELLO))
    assert result.returncode == 2
    assert one_line_error(result) == (
        'incident-worker: declare needs a title saying what is wrong, e.g. "Checkout is down".'
    )


def test_a_missing_env_file_is_named(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--env-file", "missing.env", "run", "--once")
    assert result.returncode == 2
    assert "missing.env" in one_line_error(result)


def test_an_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "other.env").write_text("TRELLO_API_KEY=abc\nTRELLO_TOKEN=def\n")
    result = run_cli(tmp_path, "--env-file", "other.env", "run", "--once")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "TRELLO_BOARD_ID" in line
    assert "TRELLO_API_KEY" not in line and "TRELLO_TOKEN" not in line


def test_a_template_without_a_checklist_names_the_file_and_line(tmp_path: Path) -> None:
    template = tmp_path / "process.md"
    template.write_text("# Our process\n\nJust prose, no task items.\n")
    env = clean_env(**FAKE_TRELLO, INCIDENT_TEMPLATE=str(template))
    result = run_cli(tmp_path, "run", "--once", env=env)
    assert result.returncode == 2
    line = one_line_error(result)
    assert str(template) in line
    assert "line" in line
    assert "checklist" in line


def test_a_database_url_without_its_driver_is_a_setting_error(tmp_path: Path) -> None:
    env = clean_env(**FAKE_TRELLO, INCIDENT_DATABASE_URL="postgresql://u@127.0.0.1:1/incidents")
    result = run_cli(tmp_path, "run", "--once", env=env)
    assert result.returncode == 2
    assert "INCIDENT_DATABASE_URL" in one_line_error(result)


# -- Trello refuses: exit 1 -----------------------------------------------------------------


def test_a_wrong_token_says_to_check_the_key_and_token(
    served: tuple[Sandbox, SandboxServer], tmp_path: Path
) -> None:
    sb, server = served
    wrong = "0" * 64
    env = sandbox_env(sb, server, tmp_path, TRELLO_TOKEN=wrong)
    result = run_cli(tmp_path, "run", "--once", env=env)
    assert result.returncode == 1
    line = final_error(result)
    assert "check TRELLO_API_KEY and TRELLO_TOKEN" in line
    assert wrong not in line and sb.api_key not in line
    assert [r.status for r in sb.request_log] == [401]


def test_a_wrong_board_id_is_named_with_its_setting(
    served: tuple[Sandbox, SandboxServer], tmp_path: Path
) -> None:
    sb, server = served
    env = sandbox_env(sb, server, tmp_path, TRELLO_BOARD_ID="nosuchboard123")
    result = run_cli(tmp_path, "run", "--once", env=env)
    assert result.returncode == 1
    line = final_error(result)
    assert "'nosuchboard123'" in line
    assert "TRELLO_BOARD_ID" in line


def test_run_once_against_the_sandbox_succeeds(
    served: tuple[Sandbox, SandboxServer], tmp_path: Path
) -> None:
    sb, server = served
    result = run_cli(tmp_path, "run", "--once", env=sandbox_env(sb, server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "worker is @incident-worker" in result.stderr
    assert (tmp_path / "w.sqlite3").is_file()


# -- the rest -------------------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"incident-worker {__version__}"


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path)
    assert result.returncode == 2
    assert "usage: incident-worker" in result.stderr
    assert "Traceback" not in result.stderr


def test_sandbox_command_serves_on_a_free_port_and_stops_cleanly(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "worker", "sandbox", "--port", "0"]
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env=clean_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            lines: list[str] = []
            for line in process.stdout:  # ends at EOF if the process dies: never hangs
                lines.append(line.rstrip("\n"))
                if line.startswith("Press Ctrl-C"):
                    break
            settings = [line for line in lines if line.startswith("TRELLO_")]
            pairs = dict(line.split("=", 1) for line in settings)
            assert list(pairs) == [
                "TRELLO_API_URL",
                "TRELLO_API_KEY",
                "TRELLO_TOKEN",
                "TRELLO_BOARD_ID",
                "TRELLO_APP_SECRET",
            ]
            assert all(value and " " not in value for value in pairs.values())
            url = pairs["TRELLO_API_URL"]
            assert url.startswith("http://127.0.0.1:") and url.endswith("/1")
            assert not url.endswith(":0/1")  # a real port was chosen
            with requests.get(
                f"{url}/boards/{pairs['TRELLO_BOARD_ID']}",
                headers={
                    "Authorization": f'OAuth oauth_consumer_key="{pairs["TRELLO_API_KEY"]}", '
                    f'oauth_token="{pairs["TRELLO_TOKEN"]}"'
                },
                timeout=10,
            ) as response:
                assert response.status_code == 200
                assert response.json()["name"] == "Incidents"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            assert process.stderr is not None
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_output_cut_short_by_its_reader_ends_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`incident-worker report CARD | head`: the reader is gone, and that is no error."""
    from worker import cli

    for name, value in FAKE_TRELLO.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INCIDENT_DATABASE_URL", f"sqlite:///{tmp_path}/none.sqlite3")
    read, write = os.pipe()
    os.close(read)  # the reader went away before anything was written
    with open(write, "w") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert cli.main(["status"]) == 0


def test_migrate_needs_only_the_database_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.sqlite3"
    result = run_cli(tmp_path, "--set", f"INCIDENT_DATABASE_URL={url}", "migrate", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"The database {url} is now at schema revision ")


def test_each_command_says_what_it_does_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    from worker import cli

    for command in (["migrate"], ["status"], ["webhook", "list"], ["declare"]):
        with pytest.raises(SystemExit) as done:
            cli.main([*command, "--help"])
        assert done.value.code == 0
        description = capsys.readouterr().out.split("\n\n")[1]
        assert description[:1].isupper() and description.strip().endswith(".")


def test_under_json_logging_the_last_error_is_a_json_line_too(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--log-format", "json", "check", env=clean_env(INCIDENT_FOO="1"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert (record["level"], record["logger"]) == ("ERROR", "worker.cli")
    assert record["message"].startswith("INCIDENT_FOO (in the environment) is not a setting")
