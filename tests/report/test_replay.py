"""Replaying a card's history through a process: what the worker did beside what it would do,
from a recorded history and two cadences."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from tests.report.test_timeline import DETECT, IDS, POLICY, T0, action, comment, label, tick
from worker.report.replay import did, side_by_side, would

UTC_ = ZoneInfo("UTC")
EPOCH = int(T0.timestamp())


def said(minutes: float, kind: str, text: str) -> dict[str, object]:
    """A comment of the worker's, with the marker that ends each one."""
    return comment(minutes, f"{text}\n\n`iw:{kind}@{EPOCH}`", who="incident-worker")


HISTORY = [
    label(0, "Incident"),
    said(0, "declared", "**Incident declared** by @alice."),
    action(
        "addChecklistToCard",
        0,
        "incident-worker",
        checklist={"id": "cl1", "name": "Until the problem is resolved"},
    ),
    comment(1, "/lead @alice\n/communicator @bob"),
    said(1, "roles", "Noted."),
    said(16, "remind-detection-1", "Reminder 1: @bob, tell them."),
    said(46, "remind-detection-2", "Reminder 2: @bob, tell them."),
    tick(50, DETECT),
]
MEMBERS = {name: member for name, member in IDS.items()}


def test_the_worker_did_what_its_comments_and_checklists_say() -> None:
    done = did(HISTORY, POLICY, MEMBERS)
    assert [(s.kind, s.at - T0) for s in done.comments] == [
        ("declared", timedelta(0)),
        ("roles", timedelta(minutes=1)),
        ("remind-detection-1", timedelta(minutes=16)),
        ("remind-detection-2", timedelta(minutes=46)),
    ]
    assert done.checklists == ("Until the problem is resolved",)
    assert done.metrics.first_communication == timedelta(minutes=50)


def test_a_shorter_cadence_would_have_reminded_sooner_and_more_often() -> None:
    every_5 = replace(POLICY, reminder_seconds=300, reminder_max_seconds=3600)
    replayed = would(HISTORY, every_5, MEMBERS)
    reminded = [(s.kind, s.at - T0) for s in replayed.comments if s.kind.startswith("remind-")]
    # from the declaration: 5 min, then waits of 10 and 20 min (the next, 75 min, is too late)
    assert reminded == [
        ("remind-detection-1", timedelta(minutes=5)),
        ("remind-detection-2", timedelta(minutes=15)),
        ("remind-detection-3", timedelta(minutes=35)),
    ]
    assert replayed.comments[0].kind == "declared"
    assert "Until the problem is resolved" in replayed.checklists
    # the same cadence as the worker had: the same reminders, from the declaration on
    same = would(HISTORY, POLICY, MEMBERS)
    assert [(s.kind, s.at - T0) for s in same.comments if s.kind.startswith("remind-")] == [
        ("remind-detection-1", timedelta(minutes=15)),
        ("remind-detection-2", timedelta(minutes=45)),
    ]


def test_side_by_side_lines_up_each_kind_with_both_times() -> None:
    every_5 = replace(POLICY, reminder_seconds=300, reminder_max_seconds=3600)
    lines = side_by_side(did(HISTORY, POLICY, MEMBERS), would(HISTORY, every_5, MEMBERS), UTC_)
    assert lines[0].split() == ["COMMENT", "DID", "WOULD", "DO", "SAYS"]
    rows = {line.split()[0]: line for line in lines[1:] if line.startswith("remind-")}
    assert (
        "02 Mar 09:16" in rows["remind-detection-1"]
        and "02 Mar 09:05" in rows["remind-detection-1"]
    )
    assert rows["remind-detection-3"].split()[1] == "-"  # it never did that one
    assert any(
        line.startswith("communication reminders") and line.split()[-2:] == ["2", "3"]
        for line in lines
    )
