"""Severity on an incident, from tables: set, changed, announced, and what each level changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import MEMBERS, TEMPLATE, TEMPLATE_PATH, a_policy, an_event, an_incident
from worker.core import header, reminders, rules
from worker.core import trello_json as ev
from worker.core.model import Comment, Incident, Phase
from worker.template import parse_template

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy(TEMPLATE, "w0", reminder_seconds=900, status_update_seconds=1800)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def incident(**update: object) -> Incident:
    return an_incident(POLICY, T0, **update)


def said(
    text: str, current: Incident | None = None, who: str = "bob"
) -> tuple[Incident, list[str]]:
    event = an_event(ev.Commented, at(1), who, action_id="a1", text=text)
    found = rules.on_event(current or incident(), event, POLICY, MEMBERS)
    assert found is not None
    return found[0], [e.text for e in found[1] if isinstance(e, Comment)]


@pytest.mark.parametrize(
    ("text", "before", "severity", "first_words"),
    [
        ("/sev 2", None, 2, ["**Severity 2 (major)**, set by @bob: A part of the service"]),
        ("/sev minor", None, 3, ["**Severity 3 (minor)**, set by @bob"]),
        (
            "/sev 1",
            2,
            1,
            ["**Severity 1 (critical)**, set by @bob (was 2 (major))", "**All hands**, for"],
        ),
        ("/sev major", 2, 2, ["The severity is 2 (major) already."]),
        ("/sev 9", None, None, ["`/sev` takes one of the levels: 1 (critical): Buyers"]),
        ("/sev", 2, 2, ["`/sev` takes one of the levels"]),
    ],
)
def test_sev_sets_the_level_or_says_which_there_are(
    text: str, before: int | None, severity: int | None, first_words: list[str]
) -> None:
    name = {1: "critical", 2: "major", 3: "minor"}.get(before or 0, "")
    after, texts = said(text, incident(severity=before, severity_name=name))
    assert after.severity == severity
    assert [t[: len(w)] for t, w in zip(texts, first_words, strict=True)] == first_words


def test_a_template_without_levels_says_so() -> None:
    plain = TEMPLATE_PLAIN
    policy = a_policy(plain, "w0")
    event = an_event(ev.Commented, at(1), "bob", action_id="a1", text="/sev 1")
    found = rules.on_event(incident(), event, policy, MEMBERS)
    assert found is not None and found[0].severity is None
    (reply,) = [e.text for e in found[1] if isinstance(e, Comment)]
    assert reply.startswith("`/sev` changes nothing: this process has no severity levels")


TEMPLATE_PLAIN_TEXT = TEMPLATE_PATH.read_text().split("---\n", 2)[2]
TEMPLATE_PLAIN = parse_template(TEMPLATE_PLAIN_TEXT)


@pytest.mark.parametrize(
    ("label", "severity"), [("critical", 1), ("Sev 2", 2), ("MINOR", 3), ("Bug", None)]
)
def test_a_label_named_after_a_level_sets_it(label: str, severity: int | None) -> None:
    event = an_event(ev.LabelAdded, at(1), "carol", label=label)
    found = rules.on_event(incident(), event, POLICY, MEMBERS)
    assert found is not None and found[0].severity == severity


def all_hands_keys(current: Incident, text: str) -> tuple[Incident, list[str]]:
    event = an_event(ev.Commented, at(2), "bob", action_id="a2", text=text)
    found = rules.on_event(current, event, POLICY, MEMBERS)
    assert found is not None
    keys = [e.key for e in found[1] if isinstance(e, Comment) and e.key.startswith("allhands")]
    return found[0], keys


def test_all_hands_are_called_once_per_level_that_calls_them() -> None:
    critical, keys = all_hands_keys(incident(), "/sev 1")
    assert keys == ["allhands-sev-1"]
    major, keys = all_hands_keys(critical, "/sev 2")
    assert keys == []  # major calls nobody
    _, keys = all_hands_keys(major, "/sev critical")
    assert keys == ["allhands-sev-1"]  # the same key again: the executor posts it once


@pytest.mark.parametrize(
    ("severity", "first_reminder_minutes", "status_after_minutes"),
    [(None, 15, 30), (1, 10, 15), (2, 15, 30), (3, 30, 60)],
)
def test_each_level_has_its_cadences(
    severity: int | None, first_reminder_minutes: int, status_after_minutes: int
) -> None:
    current = incident(severity=severity)
    _, early = reminders.due(current, at(first_reminder_minutes - 0.1), POLICY)
    _, due = reminders.due(current, at(first_reminder_minutes), POLICY)
    assert not any(c.key.startswith("remind-") for c in early)
    assert any(c.key == "remind-detection-1" for c in due)
    _, quiet = reminders.due(current, at(status_after_minutes), POLICY)
    assert any(c.key.startswith("status-") for c in quiet)


def test_the_post_mortem_follows_the_level() -> None:
    critical, _ = said("/resolved fixed", incident(severity=1, severity_name="critical"))
    major, _ = said("/resolved fixed", incident(severity=2, severity_name="major"))
    assert critical.postmortem_due is not None and major.postmortem_due is not None
    assert critical.postmortem_due < major.postmortem_due  # 1 business day, not 2
    minor, texts = said("/resolved fixed", incident(severity=3, severity_name="minor"))
    assert minor.phase is Phase.RESOLVED and minor.postmortem_due is None
    assert any(t.startswith("**No post mortem** at this severity") for t in texts)
    told = an_event(
        ev.CheckItemChanged,
        at(5),
        "bob",
        checklist_id="cl1",
        item_id="i-resolution",
        item_name="resolution",
        complete=True,
    )
    closed = rules.on_event(minor, told, POLICY, MEMBERS)
    assert closed is not None and closed[0].phase is Phase.CLOSED


def test_the_header_shows_the_level() -> None:
    shown = header.render(incident(severity=1, severity_name="critical"))
    assert "- Severity: **1 (critical)**" in shown
    assert "Severity" not in header.render(incident())


def test_declaring_with_a_level_given() -> None:
    declared, effects = rules.declare(
        "c1", "x", "b1", by="", at=T0, policy=POLICY, given={"sev": "1"}, members=MEMBERS
    )
    assert declared.severity == 1
    assert [e.key for e in effects if isinstance(e, Comment)] == [
        "declared",
        "severity-1",
        "allhands-sev-1",
    ]


@pytest.mark.parametrize(
    ("level_keys", "resolved_at", "due"),
    [
        # business days: resolved on a Friday, due the next Monday
        (
            "postmortem_days: 1",
            datetime(2026, 3, 6, 15, 0, tzinfo=UTC),
            datetime(2026, 3, 9, 15, 0, tzinfo=UTC),
        ),
        # calendar days: the weekend counts
        (
            "postmortem_calendar_days: 1",
            datetime(2026, 3, 6, 15, 0, tzinfo=UTC),
            datetime(2026, 3, 7, 15, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_levels_deadline_in_business_or_calendar_days(
    level_keys: str, resolved_at: datetime, due: datetime
) -> None:
    front = f"severities:\n  - name: bad\n    means: Bad.\n    {level_keys}\n"
    template = parse_template(f"---\n{front}---\n{TEMPLATE_PLAIN_TEXT}")
    policy = a_policy(template, "w0")
    current = an_incident(policy, resolved_at - timedelta(hours=1), severity=1, severity_name="bad")
    event = an_event(ev.Commented, resolved_at, "bob", action_id="r1", text="/resolved")
    found = rules.on_event(current, event, policy, MEMBERS)
    assert found is not None and found[0].postmortem_due == due
