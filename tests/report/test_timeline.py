"""The post-mortem draft, from histories written as data (Trello's action shapes, oldest first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from markdown_it import MarkdownIt

from tests.factories import TEMPLATE, a_policy
from worker.core.model import FollowUp
from worker.report import timeline as pm
from worker.template import Moment, parse_template

WORKER = "w0"
POLICY = a_policy(TEMPLATE, WORKER)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday; 10:00 in Stockholm
STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC_ = ZoneInfo("UTC")
IDS = {"alice": "m1", "bob": "m2", "carol": "m3", "dave": "m4", "incident-worker": WORKER}
LISTS = {"To Do": "l1", "Doing": "l2", "Done": "l3"}
LABEL_IDS = {"Incident": "lb1", "Workaround": "lb2", "Resolved": "lb3", "Bug": "lb4"}
DETECT, WORKAROUND, RESOLUTION = (TEMPLATE.communication(m)[1].name for m in Moment)
ITEM_IDS = {DETECT: "ci-detect", WORKAROUND: "ci-workaround", RESOLUTION: "ci-resolution"}


def action(kind: str, minutes: float, who: str = "alice", **data: Any) -> dict[str, Any]:
    """One action as `GET /cards/{id}/actions` returns it (worker/sandbox/render.py)."""
    at = T0 + timedelta(minutes=minutes)
    return {
        "id": f"act-{kind}-{minutes}",
        "idMemberCreator": IDS[who],
        "type": kind,
        "date": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "appCreator": None,
        "limits": None,
        "memberCreator": {"id": IDS[who], "username": who, "fullName": who.title()},
        "data": {
            "card": {"id": "c1", "name": "Checkout is down", "idShort": 7, "shortLink": "abc"},
            "board": {"id": "b1", "name": "Ops", "shortLink": "brd"},
            **data,
        },
    }


def label(minutes: float, name: str, who: str = "alice", *, remove: bool = False) -> dict[str, Any]:
    kind = "removeLabelFromCard" if remove else "addLabelToCard"
    ref = {"id": LABEL_IDS[name], "name": name, "color": "red"}
    return action(kind, minutes, who, label=ref, text=name, value="red")


def tick(minutes: float, item: str, who: str = "bob", *, done: bool = True) -> dict[str, Any]:
    state = "complete" if done else "incomplete"
    ref = {"id": ITEM_IDS.get(item, "ci-other"), "name": item, "state": state, "textData": {}}
    return action(
        "updateCheckItemStateOnCard",
        minutes,
        who,
        checklist={"id": "cl1", "name": "Until the problem is resolved"},
        checkItem=ref,
    )


def comment(minutes: float, text: str, who: str = "alice") -> dict[str, Any]:
    return action("commentCard", minutes, who, text=text, list={"id": "l2", "name": "Doing"})


def move(minutes: float, before: str, after: str, who: str = "alice") -> dict[str, Any]:
    return action(
        "updateCard",
        minutes,
        who,
        old={"idList": LISTS[before]},
        listBefore={"id": LISTS[before], "name": before},
        listAfter={"id": LISTS[after], "name": after},
    )


def report(history: list[dict[str, Any]], name: str = "Checkout is down") -> pm.Report:
    return pm.build_report(history, card_name=name, template_version="abc123", policy=POLICY)


def lines(history: list[dict[str, Any]]) -> list[str]:
    return [f"{e.kind}|{e.who}|{e.text}" for e in report(history).timeline]


SIMPLE = [
    action("createCard", -5, list={"id": "l1", "name": "To Do"}),
    label(0, "Incident"),
    comment(0.5, "**Incident declared** by @alice.", who="incident-worker"),
    tick(4, DETECT),
    comment(10, "/communicator @bob"),
    label(30, "Workaround", who="bob"),
    tick(35, WORKAROUND),
    move(80, "To Do", "Done", who="carol"),
    tick(84, RESOLUTION),
]


# -- the timeline ------------------------------------------------------------------------------


CASES: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    (
        "simple",
        SIMPLE,
        [
            "declared|alice|declared the incident",
            f"tick|bob|ticked “{DETECT}”",
            "role|alice|made @bob the communicator",
            "phase|bob|added the label “Workaround”: workaround in place",
            f"tick|bob|ticked “{WORKAROUND}”",
            "phase|carol|moved the card from “To Do” to “Done”: resolved",
            f"tick|bob|ticked “{RESOLUTION}”",
        ],
    ),
    (
        "roles",
        [
            label(0, "Incident"),
            comment(1, "/lead @carol\n/delvers @bob @dave\n/quickfixers @alice"),
            comment(2, "/communicator"),  # no one named: no effect, not a comment
        ],
        [
            "declared|alice|declared the incident",
            "role|alice|made @carol the lead",
            "role|alice|made @bob, @dave the deep delvers",
            "role|alice|made @alice the quickfixers",
        ],
    ),
    (
        "moves, comments and command notes",
        [
            move(-1, "To Do", "Doing"),  # before the declaration: not part of it
            label(0, "Incident"),
            move(5, "To Do", "Doing", who="bob"),
            comment(6, "rolling back\nsecond line\n/workaround flag off"),
            label(7, "Bug"),
            comment(8, "/resolved"),
        ],
        [
            "declared|alice|declared the incident",
            "move|bob|moved the card from “To Do” to “Doing”",
            "comment|alice|commented “rolling back” …",
            "phase|alice|marked workaround in place: flag off",
            "label|alice|added the label “Bug”",
            "phase|alice|marked resolved",
        ],
    ),
    (
        "the worker's own actions are left out",
        [
            label(0, "Incident", who="incident-worker"),  # `incident-worker declare`
            comment(1, "Reminder 1: @alice, tell them", who="incident-worker"),
            label(2, "Resolved", who="incident-worker"),
            tick(3, DETECT, who="incident-worker"),
            comment(4, "on it", who="bob"),
        ],
        ["comment|bob|commented “on it”"],
    ),
    (
        "unticking and other items",
        [label(0, "Incident"), tick(1, "Set up a call"), tick(2, "Set up a call", done=False)],
        [
            "declared|alice|declared the incident",
            "tick|bob|ticked “Set up a call”",
            "untick|bob|unticked “Set up a call”",
        ],
    ),
    (
        "re-opened and resolved again",
        [
            label(0, "Incident"),
            label(10, "Resolved"),
            label(20, "Resolved", who="bob", remove=True),
            move(30, "Doing", "Done"),
        ],
        [
            "declared|alice|declared the incident",
            "phase|alice|added the label “Resolved”: resolved",
            "reopened|bob|removed the label “Resolved”: reopened",
            "phase|alice|moved the card from “Doing” to “Done”: resolved again",
        ],
    ),
    (
        "odd and unknown actions are skipped",
        [
            label(0, "Incident"),
            {"id": "x1", "type": "commentCard"},  # no date, no data
            {**comment(1, "x"), "data": {"card": {"id": "c1"}}},  # a comment with no text
            action("addAttachmentToCard", 2, attachment={"id": "at1"}),
            action("someFutureAction", 3),
            {**tick(4, DETECT), "date": "not a date"},
            "not even a dict",  # type: ignore[list-item]
            {**comment(5, "still here"), "date": "2026-03-02T09:05:00"},  # naive: taken as UTC
        ],
        ["declared|alice|declared the incident", "comment|alice|commented “still here”"],
    ),
    ("no declaration at all", [comment(1, "hello"), move(2, "To Do", "Done")], []),
    (
        "a card that arrived with the label: no label action, declared as it arrived",
        [
            action("copyCard", 0, who="carol", list={"id": "l1", "name": "To Do"}),
            comment(1, "/communicator @bob", who="carol"),
            label(2, "Workaround", who="bob"),
        ],
        [
            "declared|carol|declared the incident",
            "role|carol|made @bob the communicator",
            "phase|bob|added the label “Workaround”: workaround in place",
        ],
    ),
]


@pytest.mark.parametrize(("history", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_timeline(history: list[dict[str, Any]], expected: list[str]) -> None:
    assert lines(history) == expected


def test_entries_are_utc_and_in_time_order_even_from_a_newest_first_feed() -> None:
    timeline = report(list(reversed(SIMPLE))).timeline
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    assert all(e.at.tzinfo is UTC for e in timeline)
    assert [e.moment for e in timeline if e.kind == "tick"] == list(Moment)


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_of_a_simple_incident() -> None:
    m = report(SIMPLE).metrics
    assert m.declared_at == T0
    assert m.first_communication == timedelta(minutes=4)
    assert (m.to_workaround, m.to_resolution) == (timedelta(minutes=30), timedelta(minutes=80))
    assert m.communication_delays == {
        Moment.DETECTION: timedelta(minutes=4),
        Moment.WORKAROUND: timedelta(minutes=5),
        Moment.RESOLUTION: timedelta(minutes=4),
    }
    assert m.never_ticked == ()


def test_missing_communication_is_named_and_none() -> None:
    history = [label(0, "Incident"), tick(3, "Set up a call"), comment(9, "/resolved fixed")]
    m = report(history).metrics
    assert m.first_communication is None and m.to_workaround is None
    assert m.to_resolution == timedelta(minutes=9)
    assert m.communication_delays == {Moment.DETECTION: None, Moment.RESOLUTION: None}
    assert m.never_ticked == (Moment.DETECTION, Moment.RESOLUTION)
    text = pm.render_markdown(report(history), TEMPLATE, STOCKHOLM)
    # resolved, not closed: the resolution message was only just asked for
    assert "| Communicated at detection | not ticked yet |" in text
    assert f"Not ticked yet: “{pm.quote(DETECT)}”, “{pm.quote(RESOLUTION)}”." in text
    assert "never" not in text.split("## Meeting agenda")[0]


def test_once_closed_an_item_not_ticked_was_never_ticked() -> None:
    history = [label(0, "Incident"), comment(9, "/resolved fixed")]
    found = pm.build_report(
        history, card_name="x", template_version="v", policy=POLICY, closed=True
    )
    text = pm.render_markdown(found, TEMPLATE, STOCKHOLM)
    assert "| Communicated at detection | never ticked |" in text
    assert f"Never ticked: “{pm.quote(DETECT)}”, “{pm.quote(RESOLUTION)}”." in text


def test_a_renamed_communication_item_is_still_known_by_its_id() -> None:
    renamed = {**tick(20, "Told everyone"), "data": tick(20, DETECT)["data"]}
    renamed["data"]["checkItem"] = {**renamed["data"]["checkItem"], "name": "Told everyone"}
    history = [label(0, "Incident"), tick(5, DETECT, done=False), renamed]
    assert report(history).metrics.communication_delays[Moment.DETECTION] == timedelta(minutes=20)


def test_a_reopened_incident_counts_to_the_resolution_that_stands() -> None:
    history = [label(0, "Incident"), label(10, "Resolved"), move(20, "Done", "Doing")]
    assert report(history).metrics.to_resolution is None
    again = [*history, comment(45, "/resolved for real")]
    assert report(again).metrics.to_resolution == timedelta(minutes=45)


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(seconds=30), "< 1 min"),
        (timedelta(minutes=4, seconds=59), "4 min"),
        (timedelta(hours=1, minutes=20), "1 h 20 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(days=2, hours=3, minutes=7), "2 d 3 h"),
        (timedelta(days=1), "1 d"),
    ],
)
def test_duration(span: timedelta, words: str) -> None:
    assert pm.duration(span) == words


# -- Markdown ---------------------------------------------------------------------------------


GOLDEN_HISTORY = [label(0, "Incident"), tick(4, DETECT), comment(6, "DB is full"), tick(80, "Set")]
GOLDEN = f"""\
# Post mortem: Checkout is down

## Metrics

| Measure | Value |
| --- | --- |
| Declared | Mon 2 Mar 2026 10:00 CET |
| First communication | 4 min |
| Time to workaround | no workaround |
| Time to resolution | not resolved |
| Communicated at detection | 4 min after |

## Meeting agenda

### Post mortem

Not too long after the problem is resolved, we want a "post mortem" meeting.

The goal of the meeting is to come up with any learnings and actions that let us do better \
work in future.

- [ ] CTO and product owner should attend so we can decide what resources to allocate.
- [ ] The discussion should be facilitated (have someone managing it) to keep us on track.

### Meeting agenda

- [ ] Timeline: What happened? What did we do? What happened then? Where did we leave things?
  - 10:00 @alice declared the incident
  - 10:04 @bob ticked “{pm.quote(DETECT)}”
  - 10:06 @alice commented “DB is full”
  - 11:20 @bob ticked “Set”
- [ ] How did this affect end users? Auction houses, buyers, sellers, support, finance, …. \
What can we then improve?
- [ ] Reflect on the post mortem. Can we do post mortems better? Update this document with \
any learnings.

### Follow-ups

The actions decided at the meeting, one item each, mentioning who owns it (an @ before their \
Trello username). Each becomes a card of its own in the Follow-ups list, with its owner and a due \
date, and is reminded about until it is done.

- [ ] Update the incident response document with the learnings from this incident.

---

Template version abc123. Learnings? Put them back into the template so the next incident \
gets them.
"""


def test_the_draft_lists_the_follow_ups_with_their_state() -> None:
    made = datetime(2026, 3, 3, 9, tzinfo=UTC_)
    followups = [
        FollowUp(
            item_id="i1",
            name="Alert on disk **usage**",
            owner="bob",
            board_id="b",
            card_id="c1",
            url="https://trello.com/c/abc",
            made_at=made,
            due=made + timedelta(days=14),
        ),
        FollowUp(
            item_id="i2",
            name="Runbook",
            owner="alice",
            board_id="b",
            made_at=made,
            due=made + timedelta(days=14),
            done_at=made + timedelta(days=2),
            done_how="moved to Done",
        ),
    ]
    text = pm.render_markdown(report(GOLDEN_HISTORY), TEMPLATE, STOCKHOLM, followups)
    section = text.split("\n## Follow-up cards\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == [
        r"- [Alert on disk \*\*usage\*\*](https://trello.com/c/abc): @bob, due Tue 17 Mar 2026, "
        "open",
        "- Runbook: @alice, due Tue 17 Mar 2026, done (moved to Done)",
    ]


def test_golden_markdown() -> None:
    assert pm.render_markdown(report(GOLDEN_HISTORY), TEMPLATE, STOCKHOLM) == GOLDEN


def test_a_multi_day_incident_dates_every_line_and_counts_days() -> None:
    history = [label(0, "Incident"), tick(30, DETECT), label(2 * 24 * 60 + 200, "Resolved")]
    r = report(history)
    assert r.metrics.to_resolution is not None
    assert pm.duration(r.metrics.to_resolution) == "2 d 3 h"
    text = pm.render_markdown(r, TEMPLATE, STOCKHOLM)
    assert "  - Mon 2 Mar 10:00 @alice declared the incident" in text
    assert "  - Wed 4 Mar 13:20 @alice added the label “Resolved”: resolved" in text
    assert "| Time to resolution | 2 d 3 h |" in text


def test_one_day_in_utc_can_be_two_in_the_readers_time_zone() -> None:
    history = [label(13 * 60 + 30, "Incident"), comment(14 * 60 + 30, "late")]  # 22:30, 23:30 UTC
    in_utc = pm.render_markdown(report(history), TEMPLATE, UTC_)
    assert "  - 23:30 @alice commented “late”" in in_utc
    text = pm.render_markdown(report(history), TEMPLATE, STOCKHOLM)
    assert "  - Mon 2 Mar 23:30 @alice declared the incident" in text
    assert "  - Tue 3 Mar 00:30 @alice commented “late”" in text


HOSTILE = "<script>alert(1)</script> **bold** @board [x](y) `code` &amp; ~~s~~ | ![i](j)"


def test_peoples_words_stay_quoted() -> None:
    history = [label(0, "Incident"), comment(1, HOSTILE, who="bob"), tick(2, "<b>x</b> @all")]
    text = pm.render_markdown(report(history, name="**Down** <img src=x> @board"), TEMPLATE, UTC_)
    assert "@board" not in text and "@all" not in text  # no live mention
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(text)
    for live in ("<script", "<strong>Down", "<img", "<a href", "<code>", "<del>", "<b>", "&amp;"):
        assert live not in html.replace("&amp;amp;", ""), live
    assert "<strong>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold** @\u200bboard [x](y) `code`" in html
    assert "<h1>Post mortem: **Down** &lt;img src=x&gt; @\u200bboard</h1>" in html


def test_the_timeline_gets_its_own_section_when_no_item_asks_what_happened() -> None:
    source = (
        "# T\n\n## Go\n\n- Consider communicating:\n  - [ ] When we first notice.\n"
        "  - [ ] When there is a workaround.\n  - [ ] When resolved.\n\n## Post mortem\n\n"
        "- [ ] Book the meeting.\n"
    )
    template = parse_template(source)
    policy = a_policy(template, WORKER)
    r = pm.build_report([label(0, "Incident")], card_name="x", template_version="v", policy=policy)
    text = pm.render_markdown(r, template, UTC_)
    assert (
        "- [ ] Book the meeting.\n\n## Timeline\n\n- 09:00 @alice declared the incident\n" in text
    )


def test_a_role_refused_live_is_not_in_the_record() -> None:
    """The worker refused @bobby (not on the board): the draft composed with the board's
    members does not say @bobby became the communicator."""
    history = [label(0, "Incident"), comment(1, "/communicator @bobby"), comment(2, "/lead @bob")]
    board = {"alice": "m1", "bob": "m2"}
    found = pm.build_report(
        history, card_name="x", template_version="v", policy=POLICY, members=board
    )
    texts = [f"{e.kind}|{e.who}|{e.text}" for e in found.timeline]
    assert "role|alice|made @bob the lead" in texts
    assert not any("bobby" in text and text.startswith("role") for text in texts)


def test_roles_given_with_the_declare_command_are_the_replays_too() -> None:
    given = "Roles given with `incident-worker declare`:\n/lead @alice\n/communicator @bob"
    history = [
        action("createCard", 0, who="incident-worker", list={"id": "l1", "name": "To Do"}),
        comment(0.1, given, who="incident-worker"),
        label(0.2, "Incident", who="incident-worker"),
        comment(5, "/communicator @carol", who="alice"),
    ]
    board = {"alice": "m1", "bob": "m2", "carol": "m3"}
    replayed = pm.replayed(history, policy=POLICY, members=board)
    assert replayed is not None
    assert (replayed.lead, replayed.communicator, replayed.declared_by) == ("alice", "carol", "")
    found = pm.build_report(
        history, card_name="x", template_version="v", policy=POLICY, members=board
    )
    assert [f"{e.kind}|{e.who}|{e.text}" for e in found.timeline] == [
        "role|alice|made @carol the communicator"
    ]


def test_an_edited_comment_counts_as_first_written_and_is_marked() -> None:
    """The worker read `/lead @bob` and made bob the lead; the comment now says carol. The
    draft tells what happened, and that the comment was edited."""
    written = comment(5, "/lead @bob\nbob leads", who="alice")
    written["data"]["text"] = "/lead @carol\ncarol leads"  # Trello keeps only the new text
    written["data"]["dateLastEdited"] = "2026-03-02T09:30:00.000Z"
    edit = action(
        "updateComment",
        30,
        who="alice",
        action={"id": written["id"], "text": "/lead @carol\ncarol leads"},
        old={"text": "/lead @bob\nbob leads"},
    )
    history = [label(0, "Incident"), written, edit]
    assert lines(history) == [
        "declared|alice|declared the incident",
        "comment|alice|commented “bob leads” (edited later)",
        "role|alice|made @bob the lead",
    ]
    replayed = pm.replayed(
        history, policy=POLICY, members={"alice": "m1", "bob": "m2", "carol": "m3"}
    )
    assert replayed is not None and replayed.lead == "bob"
