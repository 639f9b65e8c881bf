"""`check`, `setup`, `status` and JSON logs as real processes against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import IncidentFactory, StageFactory
from tests.e2e.harness import Stage

pytestmark = pytest.mark.e2e

WRONG_TOKEN = "0" * 64


def writes(scene: Stage, since: int = 0) -> list[str]:
    """Every request other than a GET that the sandbox has seen since `since`."""
    return [f"{r.method} {r.path}" for r in scene.sandbox.request_log[since:] if r.method != "GET"]


def rename_label(scene: Stage, old: str, new: str) -> None:
    state = scene.sandbox.state
    with state.lock:
        for label in state.labels.values():
            if label.name == old:
                label.name = new


def test_check_a_healthy_sandbox(make_stage: StageFactory) -> None:
    scene = make_stage()
    result = scene.run("check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ok", "credentials", "@incident-worker"]
    assert lines[1].split() == ["ok", "board", scene.board_ids[0], "'Incidents'"]
    assert lines[2].split()[:4] == ["ok", "labels", "on", "'Incidents'"]
    assert lines[3].startswith("ok") and "'Done' resolves it" in lines[3]
    assert lines[4].split()[:4] == ["ok", "follow-ups", "on", "'Incidents'"]
    assert lines[5].startswith("ok") and "template" in lines[5]
    assert lines[6].startswith("ok") and "schema revision" in lines[6]
    assert lines[-1] == "All is well."
    assert writes(scene) == []
    assert "Traceback" not in result.stderr


def test_check_with_a_wrong_token(make_stage: StageFactory) -> None:
    scene = make_stage()
    scene.env["TRELLO_TOKEN"] = WRONG_TOKEN  # secrets are refused on the command line
    result = scene.run("check")
    assert result.returncode == 1
    assert "check TRELLO_API_KEY and TRELLO_TOKEN" in result.stdout
    board_row = next(line for line in result.stdout.splitlines() if "board" in line)
    assert board_row.startswith("not checked")
    assert WRONG_TOKEN not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert [r.status for r in scene.sandbox.request_log] == [401]


def test_check_with_a_wrong_board_id(make_stage: StageFactory) -> None:
    scene = make_stage()
    result = scene.run("--set", "TRELLO_BOARD_ID=nosuchboard123", "check")
    assert result.returncode == 1
    assert "Board 'nosuchboard123' (in TRELLO_BOARD_ID) does not exist" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_missing_label_is_reported_then_set_up(make_stage: StageFactory) -> None:
    scene = make_stage()
    rename_label(scene, "Incident", "Old incident")
    result = scene.run("check")
    assert result.returncode == 1
    assert (
        "- Board 'Incidents' has no label 'Incident' (INCIDENT_LABEL): run "
        "`incident-worker setup`, or create it in Trello."
    ) in result.stdout.splitlines()

    setup = scene.run("setup")
    assert setup.returncode == 0, setup.stderr
    assert "Board 'Incidents': created the label 'Incident' (red)." in setup.stdout.splitlines()
    labels = [label for label in scene.sandbox.state.labels.values() if label.name == "Incident"]
    assert [label.color for label in labels] == ["red"]

    again = scene.run("check")
    assert again.returncode == 0, again.stdout
    assert again.stdout.splitlines()[-1] == "All is well."


def test_setup_twice_creates_nothing_the_second_time(make_stage: StageFactory) -> None:
    scene = make_stage()
    first = scene.run("setup")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "Board 'Incidents': made the list 'Follow-ups' (INCIDENT_FOLLOWUP_LIST) for follow-ups.",
        f"Board 'Incidents': made the template card for template v{template_version(scene)}.",
    ]
    assert writes(scene)  # the template card, its checklists and items

    mark = len(scene.sandbox.request_log)
    second = scene.run("setup")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "Nothing to do."
    assert writes(scene, mark) == []


def template_version(scene: Stage) -> str:
    result = scene.run("check")
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("ok  template")]
    return row.split()[2].removeprefix("v").rstrip(",")


def test_a_broken_template_is_a_row_of_the_table(make_stage: StageFactory, tmp_path: Path) -> None:
    template = tmp_path / "process.md"
    template.write_text("# Our process\n\nJust prose, no task items.\n")
    scene = make_stage()
    result = scene.run("--set", f"INCIDENT_TEMPLATE={template}", "check")
    assert result.returncode == 1
    (row,) = [line for line in result.stdout.splitlines() if "template" in line.split()[:2]]
    assert row.startswith("PROBLEM")
    (fix,) = [line for line in result.stdout.splitlines() if line.startswith(f"- {template}")]
    assert f"{template}, line " in fix and "checklist" in fix
    assert result.stdout.splitlines()[0].split()[:2] == ["ok", "credentials"]  # the rest too


def test_status_with_no_incidents_reads_only(make_stage: StageFactory) -> None:
    scene = make_stage()
    result = scene.run("status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No open incidents")
    assert not (scene.folder / "worker.sqlite3").exists()  # not created by looking

    assert scene.run("setup").returncode == 0
    mark = len(scene.sandbox.request_log)
    result = scene.run("status")
    assert result.stdout.splitlines() == [
        "No open incidents.",
        "",
        "No open follow-ups.",
        "",
        "BOARD        HELD BY                  FOR",
        "'Incidents'  - (no replica holds it)  -",
    ]
    assert writes(scene, mark) == []


def test_status_of_an_incident_while_the_worker_runs(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("Checkout is down")
    board = scene.board_ids[0]
    short_link = scene.card(card)["shortLink"]

    result = scene.run("status")
    assert result.returncode == 0, result.stderr
    header, line, blank, followups, _, holders, held = result.stdout.splitlines()
    assert followups == "No open follow-ups."
    assert header.split()[:3] == ["BOARD", "CARD", "PHASE"]
    assert line.startswith("'Incidents'")
    assert f"Checkout is down ({short_link})" in line
    assert "investigating" in line and "@alice" in line
    assert scene.worker_running and scene.process is not None  # still running
    assert (blank, holders.split()) == ("", ["BOARD", "HELD", "BY", "FOR"])
    assert held.startswith("'Incidents'") and f" pid {scene.process.pid} " in held

    down = scene.run("--set", "TRELLO_API_URL=http://127.0.0.1:9/1", "status")
    assert down.returncode == 0, down.stderr
    note, _, line, _, _, _, _, held = down.stdout.splitlines()
    assert note.startswith("Trello could not be reached")
    assert line.startswith(board) and "investigating" in line
    assert held.startswith(board) and f" pid {scene.process.pid} " in held
    # from the store alone: the short link when the worker recorded one, else the card's id
    assert f"Checkout is down ({short_link})" in line or f"Checkout is down ({card})" in line
    assert scene.stop_worker() == 0


def test_json_logs(make_stage: StageFactory) -> None:
    scene = make_stage()
    result = scene.run("--log-format", "json", "run", "--once")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
        assert record["time"].endswith("Z")
    assert any(r["message"].startswith("worker is @incident-worker") for r in records)
