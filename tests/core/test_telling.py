"""Telling people, from tables: the messages ready to send, `/tell`, and what it ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import live_markup
from tests.factories import MEMBERS, TEMPLATE, TEMPLATE_PATH, a_policy, an_event, an_incident
from worker.core import reminders, rules, telling
from worker.core import trello_json as ev
from worker.core.model import Comment, Incident, Phase, Send, TickItem
from worker.messages import SEED, Audience
from worker.template import Moment, TemplateError, parse_template

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy(TEMPLATE, "w0", reminder_seconds=900, meeting_url="https://meet.example/x")
BODY = TEMPLATE_PATH.read_text().split("---\n", 2)[2]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def incident(**update: object) -> Incident:
    return an_incident(POLICY, T0, **update)


def tell(text: str, current: Incident | None = None) -> tuple[Incident, list[object]]:
    event = an_event(ev.Commented, at(5), "bob", action_id="a5", text=text)
    found = rules.on_event(current or incident(), event, POLICY, MEMBERS)
    assert found is not None
    return found


def test_a_template_without_audiences_has_the_seeds() -> None:
    assert [a.name for a in TEMPLATE.to_tell] == ["support", "auction-houses", "buyers-sellers"]
    assert TEMPLATE.to_tell == SEED


def test_telling_one_audience_records_it_and_ticks_its_item() -> None:
    told, effects = tell("/tell support")
    assert list(told.told) == ["noticed"] and list(told.told["noticed"]) == ["support"]
    assert TickItem("c1", name_start="The support team.") in effects
    assert not told.comm_items[Moment.DETECTION].ticked  # the others are still to be told
    (receipt,) = [e.text for e in effects if isinstance(e, Comment)]
    assert receipt.startswith("**Told** support (noticed), by @bob:\n\n> **support**: We are")


def test_telling_all_ticks_the_moments_item_and_stops_its_reminders() -> None:
    told, effects = tell("/tell all")
    assert set(told.told["noticed"]) == {"support", "auction-houses", "buyers-sellers"}
    assert TickItem("c1", item_id="i-detection") in effects
    assert told.comm_items[Moment.DETECTION].ticked
    _, due = reminders.due(told, at(60), POLICY)
    assert not any(c.key.startswith("remind-detection") for c in due)


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("/tell everyone", "`/tell` takes one of `support`, `auction-houses`, `buyers-sellers`"),
        ("/tell", "`/tell` takes one of"),
    ],
)
def test_an_unknown_audience_gets_the_list(text: str, reply: str) -> None:
    told, effects = tell(text)
    assert told.told == {}
    (said,) = [e.text for e in effects if isinstance(e, Comment)]
    assert said.startswith(reply)


def test_the_message_sent_is_the_text_given_quoted_or_the_ready_one() -> None:
    _, effects = tell("/tell support **Call us** at @board")
    (receipt,) = [e.text for e in effects if isinstance(e, Comment)]
    assert "> **support**: \\*\\*Call us\\*\\* at @\u200bboard" in receipt


def test_reminders_carry_the_messages_not_sent_yet() -> None:
    current, _ = tell("/tell support")
    (reminder,) = [
        c for c in reminders.due(current, at(15), POLICY)[1] if c.key.startswith("remind")
    ]
    assert "> **auction-houses**:" in reminder.text and "> **support**:" not in reminder.text


def test_the_workaround_message_has_the_workaround() -> None:
    worked, _ = tell("/workaround payments through the backup provider")
    assert worked.phase is Phase.WORKAROUND
    ready = telling.ready(worked, Moment.WORKAROUND, POLICY)
    assert "there is a workaround: payments through the backup provider" in ready


NAMES = st.lists(
    st.sampled_from([*"ab @[]()*_`<>!#:/.\n", "@board", "https://x.y", "<b>x</b>", "**bold**"])
).map("".join)


@settings(max_examples=60, deadline=None)
@given(name=NAMES, update=NAMES, workaround=NAMES)
def test_filling_never_lets_peoples_words_become_markup(
    name: str, update: str, workaround: str
) -> None:
    hostile = incident(name=name, last_update=update, workaround=workaround)
    for moment in Moment:
        assert live_markup(telling.ready(hostile, moment, POLICY)) == []


@pytest.mark.parametrize(
    ("front", "error"),
    [
        ("audiences: support\n", "t.md, line 2: audiences must be a list"),
        ("audiences:\n  - item: x\n", "t.md, line 3: an audience needs a short name"),
        (
            "audiences:\n  - name: press\n    noticed: 'Hi {nobody}'\n",
            "t.md, line 4: noticed of audience 'press' uses {nobody}, which is no placeholder",
        ),
        (
            "audiences:\n  - name: press\n    colour: red\n",
            "t.md, line 4: unknown audience key 'colour'",
        ),
    ],
)
def test_mistakes_in_the_audiences_name_their_line(front: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(f"---\n{front}---\n{BODY}", path="t.md")
    assert str(caught.value).startswith(error)


def test_audiences_of_the_template_and_their_messages() -> None:
    front = (
        "audiences:\n  - name: press\n    item: The press\n    resolved: '{incident} is fixed.'\n"
    )
    template = parse_template(f"---\n{front}---\n{BODY}", path="t.md")
    assert template.to_tell == (
        Audience("press", "The press", {"resolved": "{incident} is fixed."}),
    )


def test_announced_audiences_are_told_at_declaration_and_resolution() -> None:
    from dataclasses import replace

    policy = replace(POLICY, announce=("support",), channels=frozenset({"support"}))
    declared, effects = rules.declare(
        "c1", "Checkout is down", "b1", by="alice", at=T0, policy=policy
    )
    assert list(declared.told["noticed"]) == ["support"]
    receipts = [e.text for e in effects if isinstance(e, Comment) and e.key.startswith("announce")]
    assert receipts[0].startswith("**Told** support (noticed), automatically (INCIDENT_ANNOUNCE):")
    assert [e.audience for e in effects if isinstance(e, Send)] == ["support"]
    (first,) = [e.text for e in effects if isinstance(e, Comment) and e.key == "declared"]
    assert "> **support**" not in first and "> **auction-houses**" in first  # only what is left
    event = an_event(ev.Commented, at(30), "bob", action_id="r1", text="/resolved")
    found = rules.on_event(declared, event, policy, MEMBERS)
    assert found is not None and list(found[0].told["resolved"]) == ["support"]


def test_announcing_an_audience_the_template_has_not_is_refused() -> None:
    from tests.factories import settings
    from worker.errors import ConfigError
    from worker.settings import build_policy

    with pytest.raises(ConfigError, match="INCIDENT_ANNOUNCE names 'press', which is no audience"):
        build_policy(settings(INCIDENT_ANNOUNCE="support,press"), TEMPLATE, "w0")


def test_channels_of_an_audience_the_template_has_not_are_refused() -> None:
    from tests.factories import settings
    from worker.errors import ConfigError
    from worker.settings import build_policy

    channels = '{"suport": ["json://127.0.0.1:9/x"]}'
    with pytest.raises(ConfigError, match="INCIDENT_CHANNELS names 'suport', which is no audience"):
        build_policy(settings(INCIDENT_CHANNELS=channels), TEMPLATE, "w0")


@pytest.mark.parametrize(
    ("message", "named"),
    [("{incident:>999999999}", "{incident:>999999999}"), ("{incident!r}", "{incident!r}")],
)
def test_a_message_may_not_format_its_placeholders(message: str, named: str) -> None:
    front = f"audiences:\n  - name: press\n    noticed: '{message}'\n"
    with pytest.raises(TemplateError, match=f"uses {named}, which is no placeholder"):
        parse_template(f"---\n{front}---\n{BODY}", path="t.md")
