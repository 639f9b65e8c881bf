"""Reminders, from tables: when each is due, how the waits grow, escalation, `/snooze`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.core.test_rules import POLICY, T0, at, comm, event, incident
from tests.factories import MEMBERS, TEMPLATE_PATH, a_policy
from worker.core import durations, reminders, rules
from worker.core import trello_json as ev
from worker.core.model import Ended, Phase
from worker.template import Moment, parse_template

# -- the waits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "first", "ceiling", "count"),
    [
        (0, 900, 3600, 0),
        (899, 900, 3600, 0),
        (900, 900, 3600, 1),  # the first after one cadence
        (2699, 900, 3600, 1),
        (2700, 900, 3600, 2),  # then twice the wait
        (6299, 900, 3600, 2),
        (6300, 900, 3600, 3),  # then the ceiling, over and over
        (9900, 900, 3600, 4),
        (9900 + 36_000, 900, 3600, 14),
        (1800, 900, 900, 2),  # a ceiling no higher than the cadence: no growth
        (7200, 3600, 900, 2),  # nor below it
        (-5, 900, 3600, 0),  # a clock behind the card's
        (30 * 24 * 3600, 1, 3600, 730),  # a month at a one-second cadence: counted, not looped
    ],
)
def test_each_wait_doubles_the_last_up_to_the_ceiling(
    elapsed: float, first: float, ceiling: float, count: int
) -> None:
    assert reminders.count(elapsed, first, ceiling) == count


# -- which are due -------------------------------------------------------------------------------

COMMUNICATOR = {"communicator": "carol"}
RECENT_TALK = {"last_human_comment_at": at(86_400)}  # keeps status reminders out of the way


@pytest.mark.parametrize(
    ("update", "now", "keys"),
    [
        ({**COMMUNICATOR, **RECENT_TALK}, 899, []),
        ({**COMMUNICATOR, **RECENT_TALK}, 900, ["remind-detection-1"]),
        ({**COMMUNICATOR, **RECENT_TALK}, 1799, ["remind-detection-1"]),
        ({**COMMUNICATOR, **RECENT_TALK}, 2699, ["remind-detection-1"]),
        ({**COMMUNICATOR, **RECENT_TALK}, 2700, ["remind-detection-2"]),  # 900 s, then 1800
        ({**COMMUNICATOR, **RECENT_TALK}, 6300, ["remind-detection-3"]),  # then the ceiling
        ({**COMMUNICATOR, **RECENT_TALK}, 9900, ["remind-detection-4"]),
        (
            {
                **COMMUNICATOR,
                **RECENT_TALK,
                "comm_items": {Moment.DETECTION: comm(Moment.DETECTION, ticked=True)},
            },
            2700,
            [],
        ),
        (
            {
                **COMMUNICATOR,
                **RECENT_TALK,
                "comm_items": {Moment.DETECTION: comm(Moment.DETECTION, gone=True)},
            },
            2700,
            [],
        ),
        (
            {
                **COMMUNICATOR,
                **RECENT_TALK,
                "phase": Phase.WORKAROUND,
                "phase_started": {Phase.INVESTIGATING: T0, Phase.WORKAROUND: at(1000)},
                "comm_items": {
                    Moment.DETECTION: comm(Moment.DETECTION, ticked=True),
                    Moment.WORKAROUND: comm(Moment.WORKAROUND),
                },
            },
            1900,
            ["remind-workaround-1"],
        ),
        (
            {
                **COMMUNICATOR,
                "phase": Phase.RESOLVED,
                "phase_started": {Phase.INVESTIGATING: T0, Phase.RESOLVED: at(100)},
                "comm_items": {
                    Moment.DETECTION: comm(Moment.DETECTION, ticked=True),
                    Moment.RESOLUTION: comm(Moment.RESOLUTION),
                },
            },
            1000,
            ["remind-resolution-1"],
        ),
        (  # resolved: the detection and workaround messages are moot, the resolution's is not
            {
                **COMMUNICATOR,
                "phase": Phase.RESOLVED,
                "phase_started": {
                    Phase.INVESTIGATING: T0,
                    Phase.WORKAROUND: at(100),
                    Phase.RESOLVED: at(200),
                },
                "comm_items": {moment: comm(moment) for moment in Moment},
            },
            3000,
            ["remind-resolution-2"],
        ),
        ({**RECENT_TALK}, 299, []),
        ({**RECENT_TALK}, 300, ["role-communicator-1"]),
        ({**RECENT_TALK, "lead": None}, 899, ["role-lead-1"]),
        ({**RECENT_TALK, "lead": None}, 900, ["remind-detection-1", "role-lead-2"]),
        ({**COMMUNICATOR, "comm_items": {}}, 1800, ["status-1772442000-1"]),
        (
            {**COMMUNICATOR, "comm_items": {}, "last_human_comment_at": at(600)},
            2399,
            [],
        ),
        (
            {**COMMUNICATOR, "comm_items": {}, "last_human_comment_at": at(600)},
            2400,
            ["status-1772442600-1"],
        ),
        ({**COMMUNICATOR, "ended": Ended.STOOD_DOWN}, 100_000, []),
    ],
)
def test_reminders_due(update: dict[str, object], now: float, keys: list[str]) -> None:
    _, due = reminders.due(incident(**update), at(now), POLICY)
    assert [c.key for c in due] == keys


def test_communication_reminders_mention_the_communicator_else_the_lead() -> None:
    (lead_asked,) = reminders.due(incident(**RECENT_TALK, communicator=None), at(900), POLICY)[1][
        :1
    ]
    assert "@alice" in lead_asked.text
    _, (asked,) = reminders.due(incident(**RECENT_TALK, **COMMUNICATOR), at(900), POLICY)
    assert "@carol" in asked.text and "When we first notice the problems." in asked.text


# -- escalation --------------------------------------------------------------------------------

ESCALATING = replace(POLICY, reminder_max_seconds=900, escalate_after=3)
TO_BOARD = replace(ESCALATING, escalate_to_board=True)
QUIET = {**COMMUNICATOR, **RECENT_TALK, "comm_items": {Moment.DETECTION: comm(Moment.DETECTION)}}


def play(policy: object, minutes: range, **update: object) -> list[tuple[int, str]]:
    """Ask for reminders every minute, keeping the incident each time as the worker does;
    (reminder number, the text after its first line) for each reminder that escalates."""
    current = incident(**{**QUIET, **update})
    calls: dict[str, str] = {}
    for minute in minutes:
        current, due = reminders.due(current, at(minute * 60), policy)  # type: ignore[arg-type]
        for comment in due:
            calls.setdefault(comment.key, comment.text)
    return [
        (int(key.rsplit("-", 1)[1]), line)
        for key, text in calls.items()
        for line in text.split("\n\n")
        if "reminders have gone unanswered" in line
    ]


@pytest.mark.parametrize(
    ("policy", "update", "escalations"),
    [
        (
            ESCALATING,
            {},
            [(3, "@alice (lead): 3 reminders have gone unanswered, please see to it.")],
        ),
        (
            TO_BOARD,
            {},
            [
                (3, "@alice (lead): 3 reminders have gone unanswered, please see to it."),
                (6, "@board: 6 reminders have gone unanswered, please see to it."),
            ],
        ),
        # the lead is the one reminded: straight to the board, or to nobody
        (
            TO_BOARD,
            {"communicator": None},
            [(3, "@board: 3 reminders have gone unanswered, please see to it.")],
        ),
        (ESCALATING, {"communicator": None}, []),
        (replace(TO_BOARD, escalate_after=0), {}, []),
    ],
)
def test_unanswered_reminders_bring_in_the_lead_then_the_board_once_each(
    policy: object, update: dict[str, object], escalations: list[tuple[int, str]]
) -> None:
    assert play(policy, range(0, 200), **update) == escalations


def test_an_escalation_skipped_over_comes_with_the_next_reminder_due() -> None:
    current = incident(**QUIET)
    _, due = reminders.due(current, at(2 * 900), ESCALATING)
    assert [c.key for c in due] == ["remind-detection-2"] and "lead" not in due[0].text
    current, due = reminders.due(current, at(5 * 900), TO_BOARD)  # down through the third
    assert [c.key for c in due] == ["remind-detection-5"] and "@alice (lead): 5" in due[0].text
    assert current.escalated == {Moment.DETECTION: 1}
    again, due = reminders.due(current, at(5 * 900), TO_BOARD)  # asked again: the same key
    assert again == current and [c.key for c in due] == ["remind-detection-5"]


def test_re_opening_lets_the_resolution_message_escalate_again() -> None:
    resolved = incident(
        **COMMUNICATOR,
        phase=Phase.RESOLVED,
        phase_started={Phase.INVESTIGATING: T0, Phase.RESOLVED: at(0)},
        resolutions=1,
        escalated={Moment.DETECTION: 1, Moment.RESOLUTION: 1},
    )
    reopened, _ = rules.on_event(resolved, event(ev.Commented, 60, text="/reopen"), POLICY, MEMBERS)
    assert reopened is not None and reopened.escalated == {Moment.DETECTION: 1}


def test_the_template_can_call_the_board() -> None:
    source = "---\nescalate_to_board: true\nescalate_after: 2\nreminder_max_seconds: 600\n---\n"
    policy = a_policy(parse_template(source + TEMPLATE_PATH.read_text()))
    assert (policy.escalate_to_board, policy.escalate_after, policy.reminder_max_seconds) == (
        True,
        2,
        600,
    )


# -- /snooze -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("30m", timedelta(minutes=30)),
        ("30", timedelta(minutes=30)),
        ("45 min", timedelta(minutes=45)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2H", timedelta(hours=2)),
        ("", None),
        ("0m", None),
        ("soon", None),
        ("30s", None),
        ("-5m", None),
    ],
)
def test_how_long_as_people_write_it(text: str, length: timedelta | None) -> None:
    assert durations.length(text) == length


TAKES = (
    "`/snooze` takes how long, up to 12 h: `/snooze 30m`, `/snooze 1h30m`; `/snooze off` ends it."
)


def snoozing(who: str, text: str, seconds: float = 900, **update: object) -> tuple[object, str]:
    happening = event(ev.Commented, seconds, who=who, text=text)
    current = incident(**{**QUIET, **update})
    new, effects = rules.on_event(current, happening, POLICY, MEMBERS)  # type: ignore[misc]
    (reply,) = effects
    return new, reply.text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("who", "text", "update", "until", "reply"),
    [
        (
            "carol",
            "/snooze 30m",
            {},
            at(900 + 1800),
            "Reminders snoozed by @carol until Mon 02 Mar 09:45 UTC; `/snooze off` ends it sooner.",
        ),
        (
            "alice",
            "/snooze 1h",
            {},
            at(900 + 3600),
            "Reminders snoozed by @alice until Mon 02 Mar 10:15 UTC; `/snooze off` ends it sooner.",
        ),
        ("bob", "/snooze 30m", {}, None, "@bob: only @alice or @carol can snooze the reminders."),
        (
            "bob",
            "/snooze 30m",
            {"lead": None, "communicator": None},
            at(900 + 1800),
            "Reminders snoozed by @bob until Mon 02 Mar 09:45 UTC; `/snooze off` ends it sooner.",
        ),
        (
            "carol",
            "/snooze 13h",
            {},
            None,
            TAKES,
        ),
        (
            "carol",
            "/snooze",
            {},
            None,
            TAKES,
        ),
        (
            "carol",
            "/snooze off",
            {"snoozed_until": at(2000)},
            None,
            "Reminders are back on (by @carol).",
        ),
        ("carol", "/snooze off", {}, None, "The reminders are not snoozed."),
    ],
)
def test_snooze_from_the_card(
    who: str, text: str, update: dict[str, object], until: object, reply: str
) -> None:
    new, said = snoozing(who, text, **update)
    assert (new.snoozed_until, said) == (until, reply)  # type: ignore[attr-defined]


def test_a_snooze_holds_every_reminder_but_the_post_mortems_until_it_ends() -> None:
    snoozed = incident(**{**COMMUNICATOR, "snoozed_until": at(4000)})
    assert reminders.due(snoozed, at(3999), POLICY)[1] == []
    _, due = reminders.due(snoozed, at(4000), POLICY)
    assert [c.key for c in due] == ["remind-detection-2", "status-1772442000-1"]
    after = snoozed.model_copy(
        update={
            "phase": Phase.RESOLVED,
            "phase_started": {Phase.INVESTIGATING: T0, Phase.RESOLVED: at(100)},
            "postmortem_due": at(200),
        }
    )
    assert [c.key.split("-")[:2] for c in reminders.due(after, at(300), POLICY)[1]] == [
        ["pm", "due"]
    ]
    stood_down = snoozed.model_copy(update={"ended": Ended.STOOD_DOWN})
    assert reminders.due(stood_down, at(4000), POLICY)[1] == []


# -- when the next one falls due ----------------------------------------------------------------

ROLES = {"lead": "alice", "communicator": "bob"}


@pytest.mark.parametrize(
    ("update", "now", "expected"),
    [
        (ROLES, 60, 900),  # the first message's first reminder
        (ROLES, 16 * 60, 1800),  # then the status ask comes first (the next message one: 2700)
        ({**ROLES, "last_human_comment_at": at(20 * 60)}, 16 * 60, 2700),
        (
            {**ROLES, "comm_items": {Moment.DETECTION: comm(Moment.DETECTION, ticked=True)}},
            60,
            1800,
        ),
        ({**ROLES, "next_update_due": at(20 * 60)}, 60, 900),
        ({**ROLES, "next_update_due": at(10 * 60)}, 60, 600),  # the promise comes first
        ({}, 60, 300),  # nobody leads yet: the role ask
        ({**ROLES, "snoozed_until": at(50 * 60)}, 60, 3000),
        ({**ROLES, "phase": Phase.CLOSED}, 60, None),
        ({**ROLES, "ended": Ended.STOOD_DOWN}, 60, None),
    ],
)
def test_when_the_next_reminder_falls_due(
    update: dict[str, object], now: float, expected: float | None
) -> None:
    found = reminders.next_at(incident(**update), at(now), POLICY)
    assert found == (None if expected is None else at(expected))


@pytest.mark.parametrize("now", [0, 60, 899, 900, 1000, 2700, 4000, 9000])
def test_nothing_new_is_due_before_the_next_reminder_and_something_is_then(now: float) -> None:
    subject = incident(**ROLES)
    next_at = reminders.next_at(subject, at(now), POLICY)
    assert next_at is not None and next_at > at(now)

    def keys(moment: datetime) -> set[str]:
        return {c.key for c in reminders.due(subject, moment, POLICY)[1]}

    assert keys(next_at - timedelta(seconds=1)) == keys(at(now))
    assert keys(next_at) - keys(at(now))
