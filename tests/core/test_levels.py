"""Severity levels in the template's front matter, from tables: read, refused, looked up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import TEMPLATE, TEMPLATE_PATH
from worker.levels import Level, find
from worker.template import Stage, TemplateError, parse_template

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BODY = TEMPLATE_PATH.read_text().split("---\n", 2)[2]  # the default template, levels aside


def levels_of(front: str) -> tuple[Level, ...]:
    return parse_template(f"---\n{front}---\n{BODY}", path="t.md").levels


def test_the_default_template_has_three_levels_in_the_seeds_words() -> None:
    assert [(level.number, level.name) for level in TEMPLATE.levels] == [
        (1, "critical"),
        (2, "major"),
        (3, "minor"),
    ]
    critical, major, minor = TEMPLATE.levels
    assert critical.all_hands and critical.postmortem_days == 1
    assert major.reminder_seconds is None and major.postmortem
    assert not minor.postmortem


def test_a_template_without_levels_has_none() -> None:
    assert parse_template(BODY).levels == ()


def test_levels_read_with_what_they_leave_to_the_template() -> None:
    front = (
        "severities:\n"
        "  - name: down\n    means: Nobody can buy.\n    reminder_seconds: 300\n"
        "  - name: slow\n    means: 'Slow: pages take seconds.'\n    postmortem: false\n"
    )
    assert levels_of(front) == (
        Level(1, "down", "Nobody can buy.", reminder_seconds=300),
        Level(2, "slow", "Slow: pages take seconds.", postmortem=False),
    )


@pytest.mark.parametrize(
    ("front", "error"),
    [
        ("severities: critical\n", "t.md, line 2: severities must be a list of levels"),
        ("severities: []\n", "t.md, line 2: severities must be a list of levels"),
        ("severities:\n  - critical\n", "t.md, line 3: severity 1 must be 'key: value' lines"),
        ("severities:\n  - name: x\n", "t.md, line 3: severity 1 needs a means"),
        (
            "severities:\n  - name: x\n    means: y\n    colour: red\n",
            "t.md, line 5: unknown key 'colour' in severity 1",
        ),
        (
            "severities:\n  - name: Sev One!\n    means: y\n",
            "t.md, line 3: name of severity 1 must be a short name in lowercase letters",
        ),
        (
            "severities:\n  - name: x\n    means: y\n    reminder_seconds: -5\n",
            "t.md, line 5: reminder_seconds of severity 1 must be a positive whole number",
        ),
        (
            "severities:\n  - name: x\n    means: y\n    all_hands: yes please\n",
            "t.md, line 5: all_hands of severity 1 must be true or false",
        ),
        (
            "severities:\n  - name: x\n    means: y\n  - name: x\n    means: z\n",
            "t.md, line 5: two severities are named 'x'",
        ),
    ],
)
def test_mistakes_in_the_levels_name_their_line(front: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        levels_of(front)
    assert str(caught.value).startswith(error)


@pytest.mark.parametrize(
    ("word", "number"),
    [
        ("1", 1),
        ("critical", 1),
        ("CRITICAL", 1),
        ("sev 2", 2),
        ("SEV-2", 2),
        ("sev3", 3),
        ("Severity 3", 3),
        (" minor ", 3),
        ("4", None),
        ("0", None),
        ("worst", None),
        ("", None),
    ],
)
def test_a_level_is_named_by_its_number_or_its_name(word: str, number: int | None) -> None:
    found = find(TEMPLATE.levels, word)
    assert (found.number if found else None) == number


LEVELLED = BODY.replace(
    "### Until the problem is resolved",
    "### Call the bank <!-- incident: levels=1 -->\n\n- [ ] Call the bank's duty desk.\n\n"
    "### Until the problem is resolved",
)
THREE = "severities:\n" + "".join(f"  - name: l{n}\n    means: m{n}\n" for n in (1, 2, 3))


def test_a_checklist_marked_for_levels_is_only_theirs() -> None:
    template = parse_template(f"---\n{THREE}---\n{LEVELLED}", path="t.md")
    (bank,) = [c for c in template.checklists if c.name == "Call the bank"]
    assert bank.levels == (1,)
    names = {
        level: [c.name for c in template.for_level(Stage.DECLARED, level)] for level in (None, 1, 2)
    }
    assert names[None] == names[2] == ["Until the problem is resolved"]
    assert names[1] == ["Call the bank", "Until the problem is resolved"]


@pytest.mark.parametrize(
    ("front", "marker", "error"),
    [
        (
            THREE,
            "levels=4",
            "the checklist 'Call the bank' is for level 4, but the template has levels 1 to 3",
        ),
        (
            "",
            "levels=1",
            "the checklist 'Call the bank' is for level 1, but the template has no severity levels",
        ),
        (THREE, "levels=one", "levels= takes level numbers, e.g. levels=1,2 (got 'one')"),
    ],
)
def test_a_checklists_levels_must_be_the_templates(front: str, marker: str, error: str) -> None:
    text = LEVELLED.replace("levels=1", marker)
    source = f"---\n{front}---\n{text}" if front else text
    with pytest.raises(TemplateError) as caught:
        parse_template(source, path="t.md")
    assert error in str(caught.value)


def test_raising_the_level_adds_the_checklists_it_now_needs() -> None:
    from tests.factories import a_policy, an_incident
    from worker.core import rules
    from worker.core.model import AddChecklists
    from worker.core.severity import set_level

    template = parse_template(f"---\n{THREE}---\n{LEVELLED}", path="t.md")
    policy = a_policy(template, "w0")
    current = an_incident(policy, T0, checklists={"Until the problem is resolved": "cl1"})
    assert rules.settle(current, [AddChecklists("c1", Stage.DECLARED)], policy) == []
    raised, effects = set_level(current, template.levels[0], "bob", policy)
    settled = [e for e in rules.settle(raised, effects, policy) if isinstance(e, AddChecklists)]
    assert settled == [AddChecklists("c1", Stage.DECLARED, ("Call the bank",))]
    # an incident of an earlier template keeps that template's checklists
    older = current.model_copy(update={"template_version": "0123456789ab"})
    _, effects = set_level(older, template.levels[0], "bob", policy)
    assert not any(isinstance(e, AddChecklists) for e in effects)
