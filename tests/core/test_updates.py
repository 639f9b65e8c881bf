"""Status updates, from tables: the promise read from the text, the nudge, the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import MEMBERS, TEMPLATE, a_policy, an_event
from worker.core import header, reminders, rules, updates
from worker.core import trello_json as ev
from worker.core.model import Comment, Incident, Phase
from worker.report import timeline

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Stockholm
POLICY = a_policy(TEMPLATE, "w0", status_update_seconds=1800, timezone=ZoneInfo("Europe/Stockholm"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("failing over; next update 10:30", at(30)),  # the team's time: Stockholm
        ("next update at 10.45", at(45)),
        ("Next by 09:30", at(23 * 60 + 30)),  # gone by today: tomorrow's
        ("next in 30m", at(30)),
        ("next in 45 min", at(45)),
        ("next in 1h", at(60)),
        ("next in 1h30m", at(90)),
        ("next update 25:00", None),
        ("no promise here", None),
        ("next week", None),
    ],
)
def test_the_promised_next_update(text: str, due: datetime | None) -> None:
    assert updates.promised(text, T0, POLICY) == due


def incident(**update: object) -> Incident:
    declared, _ = rules.declare("c1", "Checkout", "b1", by="alice", at=T0, policy=POLICY)
    return declared.model_copy(update={"communicator": "bob", **update})


def comment(
    current: Incident, text: str, minutes: float, who: str = "bob"
) -> tuple[Incident, list[str]]:
    event = an_event(ev.Commented, at(minutes), who, action_id=f"a{minutes}", text=text)
    found = rules.on_event(current, event, POLICY, MEMBERS)
    assert found is not None
    return found[0], [e.text for e in found[1] if isinstance(e, Comment)]


def test_an_update_is_recorded_quoted_in_the_header() -> None:
    updated, replies = comment(incident(), "/update **Payments** via @board; next in 30m", 5)
    assert replies == []
    assert (updated.updates, updated.last_update_by, updated.next_update_due) == (1, "bob", at(35))
    row = next(r for r in header.render(updated).splitlines() if r.startswith("- Latest update"))
    assert row.startswith(
        "- Latest update (2026-03-02 09:05 UTC, @bob; next by 2026-03-02 09:35 UTC): "
    )
    assert "\\*\\*Payments\\*\\*" in row and "@\u200bboard" in row  # quoted


@pytest.mark.parametrize(
    ("update", "reply"),
    [
        ({"phase": Phase.RESOLVED}, "`/update` changes nothing now: the incident is resolved."),
        ({}, "`/update` needs the update itself: `/update <text>`."),
    ],
)
def test_an_update_that_cannot_be_recorded_gets_a_reply(
    update: dict[str, object], reply: str
) -> None:
    text = "/update" if not update else "/update all good"
    _, replies = comment(incident(**update), text, 5)
    assert replies == [reply]


def keys(current: Incident, minutes: float) -> list[str]:
    return [c.key for c in reminders.due(current, at(minutes), POLICY)[1]]


def test_a_promise_holds_the_asks_until_it_is_missed_then_nudges_once() -> None:
    promised, _ = comment(incident(), "/update failing over; next in 45m", 5)
    assert not any(k.startswith(("status-", "promise-")) for k in keys(promised, 49))
    due = keys(promised, 50)
    assert [k for k in due if k.startswith(("status-", "promise-"))] == ["promise-1772445000"]
    (nudge,) = [
        c for c in reminders.due(promised, at(50), POLICY)[1] if c.key.startswith("promise-")
    ]
    assert nudge.text.startswith(
        "@alice @bob: the next update was promised by Mon 02 Mar 10:50 CET"
    )
    # then the usual asks, counted from the promise
    assert any(k.startswith("status-") for k in keys(promised, 50 + 30))
    kept, _ = comment(promised, "/update back on the main provider", 40)
    assert kept.next_update_due is None and not any(
        k.startswith("promise-") for k in keys(kept, 50)
    )


def test_the_draft_counts_updates_silences_and_promises() -> None:
    def action(kind: str, minutes: int, **data: object) -> dict[str, object]:
        return {
            "id": f"a{minutes}",
            "type": kind,
            "date": at(minutes).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "idMemberCreator": "m2",
            "memberCreator": {"id": "m2", "username": "bob"},
            "data": {"card": {"id": "c1", "name": "Checkout"}, **data},
        }

    history = [
        action("addLabelToCard", 0, label={"id": "l", "name": "Incident"}, text="Incident"),
        action("commentCard", 10, text="/update failing over; next in 20m"),
        action("commentCard", 25, text="/update still failing over; next in 30m"),  # kept
        action("commentCard", 70, text="/update on the backup now"),  # missed (due at 55)
        action("commentCard", 100, text="/resolved"),
    ]
    report = timeline.build_report(
        history, card_name="Checkout", template_version="v", policy=POLICY
    )
    m = report.metrics
    assert (m.updates, m.promises_kept, m.promises_missed) == (3, 1, 1)
    assert m.longest_silence == timedelta(minutes=45)
    assert [e.text for e in report.timeline if e.kind == "update"][0] == (
        "posted an update: “failing over; next in 20m”"
    )
    drafted = timeline.render_markdown(report, TEMPLATE, UTC)
    assert (
        "| Status updates | 3 |" in drafted
        and "| Next updates promised | 1 kept, 1 missed |" in drafted
    )
