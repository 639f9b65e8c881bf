"""The Markdown incident template: the default file, the rules, the errors, the round trip."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import TEMPLATE_PATH as DEFAULT
from worker.errors import ConfigError
from worker.template import (
    Cadence,
    Moment,
    Stage,
    Template,
    TemplateError,
    load_template,
    parse_template,
    render_template,
)

COMMUNICATE = """\
## Talk

- Consider communicating:
  - [ ] When we first notice it.
  - [ ] When there is a workaround.
  - [ ] When it is resolved.
"""


def shape(template: Template) -> tuple[Any, ...]:
    """What a round trip must keep: checklists, their items and guidance, and the cadence."""
    return (
        [
            (
                c.name,
                c.stage,
                c.guidance,
                [(i.name, i.text, i.moment, i.depth, i.context) for i in c.items],
            )
            for c in template.checklists
        ],
        template.cadence,
    )


# --- the default template ------------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> Template:
    return load_template(DEFAULT)


def test_default_checklists_and_phases(default: Template) -> None:
    assert default.title == "Incident response"
    assert [(c.name, c.stage, len(c.items)) for c in default.checklists] == [
        ("Until the problem is resolved", Stage.DECLARED, 12),
        ("Post mortem", Stage.RESOLVED, 2),
        ("Meeting agenda", Stage.RESOLVED, 3),
        ("Follow-ups", Stage.RESOLVED, 1),
    ]
    assert [c.name for c in default.for_stage(Stage.DECLARED)] == ["Until the problem is resolved"]
    assert [c.name for c in default.for_stage(Stage.RESOLVED)] == [
        "Post mortem",
        "Meeting agenda",
        "Follow-ups",
    ]
    assert default.followups is not None and default.followups.name == "Follow-ups"
    assert default.followups.items[0].text.startswith("Update the incident response document")
    assert default.cadence == Cadence()


def test_default_flattens_nested_items_visibly(default: Template) -> None:
    items = default.checklists[0].items
    assert [(i.depth, i.name) for i in items[3:9]] == [
        (1, "↳ The support team."),
        (
            1,
            "↳ Auction houses (see [example bulletin]"
            "(https://auctionet.com/admin/super/bulletins#bulletin_255)).",
        ),
        (
            1,
            "↳ Buyers, sellers, or other affected parties (see [example campaign]"
            "(https://auctionet.com/admin/super/campaigns/550/edit)).",
        ),
        (0, "Consider communicating: When we first notice the problems."),
        (0, "Consider communicating: When there is some workaround."),
        (
            0,
            "Consider communicating: When the problems are resolved "
            "(from the affected party's standpoint).",
        ),
    ]
    assert items[6].context == "Consider communicating:"
    assert items[6].text == "When we first notice the problems."
    assert items[0].context is None and items[0].depth == 0
    assert items[1].text.endswith("e.g. [Zoom](https://zoom.us/).")
    assert "**incident lead**" in items[0].name


def test_default_communication_moments(default: Template) -> None:
    lines = DEFAULT.read_text(encoding="utf-8").splitlines()
    expected = {
        Moment.DETECTION: "When we first notice the problems.",
        Moment.WORKAROUND: "When there is some workaround.",
        Moment.RESOLUTION: "When the problems are resolved (from the affected party's standpoint).",
    }
    for moment, text in expected.items():
        checklist, item = default.communication(moment)
        assert checklist.name == "Until the problem is resolved"
        assert item.text == text
        assert lines[item.line - 1] == f"  - [ ] {text}"
    moments = [i.moment for c in default.checklists for i in c.items if i.moment]
    assert len(moments) == 3


def test_default_guidance_and_lines(default: Template) -> None:
    until, post_mortem, agenda, followups = default.checklists
    assert until.guidance == (
        "Anyone not tapped by the incident lead is free to keep working on other things. "
        "It is the lead's responsibility to call for all hands if necessary.",
    )
    assert post_mortem.guidance[0].startswith("Not too long after the problem is resolved")
    assert len(post_mortem.guidance) == 2 and agenda.guidance == ()
    lines = DEFAULT.read_text(encoding="utf-8").splitlines()
    assert lines[until.line - 1] == "### Until the problem is resolved"
    assert lines[agenda.items[0].line - 1].startswith("- [ ] Timeline:")
    assert lines[followups.line - 1] == "#### Follow-ups <!-- incident: followups=yes -->"
    assert followups.guidance[0].startswith("The actions decided at the meeting")


def test_default_version_is_the_sha256_prefix(default: Template) -> None:
    assert default.version == hashlib.sha256(DEFAULT.read_bytes()).hexdigest()[:12]
    assert default.path == str(DEFAULT)


def test_default_round_trips(default: Template) -> None:
    assert shape(parse_template(render_template(default))) == shape(default)


# --- rules and markers ---------------------------------------------------------------------


def test_a_heading_needs_task_items_of_its_own() -> None:
    t = parse_template(
        "# Title\n\nIntro.\n\n## Group\n\nText.\n\n### Sub\n\n- [x] done\n\n" + COMMUNICATE
    )
    assert [c.name for c in t.checklists] == ["Sub", "Talk"]
    assert t.checklists[0].items[0].text == "done"


def test_deeper_nesting_and_plain_bullets_inside_tasks() -> None:
    text = (
        "## A\n\n"
        "1. [ ] top\n"
        "   - [ ] child\n"
        "     * [ ] grandchild\n"
        "   - Ask:\n"
        "     - Really:\n"
        "       - [ ] who\n"
        "   - a note\n\n" + COMMUNICATE
    )
    items = parse_template(text).checklists[0].items
    assert [(i.name, i.depth, i.context) for i in items] == [
        ("top", 0, None),
        ("↳ child", 1, None),
        ("↳ ↳ grandchild", 2, None),
        ("↳ Ask: Really: who", 1, "Ask: Really:"),
    ]
    assert parse_template(text).checklists[0].guidance == ("- a note",)
    assert [i.line for i in items] == [3, 4, 5, 8]


def test_post_mortem_heading_makes_the_resolved_phase_and_is_inherited() -> None:
    text = (
        COMMUNICATE + "\n## Post-mortem\n\n- [ ] meet\n\n### Agenda\n\n- [ ] timeline\n\n"
        "## Later\n\n- [ ] tidy\n\n## POSTMORTEM notes\n\n- [ ] write\n"
    )
    phases = {c.name: c.stage for c in parse_template(text).checklists}
    assert phases == {
        "Talk": Stage.DECLARED,
        "Post-mortem": Stage.RESOLVED,
        "Agenda": Stage.RESOLVED,
        "Later": Stage.DECLARED,
        "POSTMORTEM notes": Stage.RESOLVED,
    }


def test_phase_markers_override_and_inherit() -> None:
    text = (
        COMMUNICATE + "\n## Post mortem <!-- incident: phase=declared -->\n\n- [ ] a\n\n"
        "### Under it\n\n- [ ] b\n\n"
        "## Afterwards\n<!-- incident: phase=resolved -->\n\n- [ ] c\n\n"
        "### Still after\n\n- [ ] d\n\n"
        "### Back <!-- incident: phase=declared -->\n\n- [ ] e\n"
    )
    phases = [(c.name, c.stage) for c in parse_template(text).checklists]
    assert phases == [
        ("Talk", Stage.DECLARED),
        ("Post mortem", Stage.DECLARED),
        ("Under it", Stage.DECLARED),
        ("Afterwards", Stage.RESOLVED),
        ("Still after", Stage.RESOLVED),
        ("Back", Stage.DECLARED),
    ]


def test_defaults_catch_only_items_under_a_communicating_bullet() -> None:
    text = (
        "## Until the problem is resolved\n\n- [ ] Check the workaround works.\n"
        "- Notes:\n  - [ ] When it is resolved, relax.\n\n" + COMMUNICATE
    )
    t = parse_template(text)
    assert [i.moment for i in t.checklists[0].items] == [None, None]
    assert t.communication(Moment.RESOLUTION)[1].text == "When it is resolved."


def test_communicate_markers_switch_the_defaults_off() -> None:
    text = (
        COMMUNICATE
        + "\n## Tell\n\n"
        + "- [ ] Support knows <!-- incident: communicate=detection -->\n"
        + "- [ ] Customers know of the fix <!-- incident: communicate=workaround -->\n"
        + "- [ ] All clear sent <!--incident:communicate=resolution-->\n"
    )
    t = parse_template(text)
    talk, tell = t.checklists
    assert all(i.moment is None for i in talk.items)
    assert [i.moment for i in tell.items] == list(Moment)
    assert tell.items[1].text == "Customers know of the fix"
    assert t.communication(Moment.WORKAROUND) == (tell, tell.items[1])


def test_followups_marker_names_one_post_mortem_checklist() -> None:
    text = (
        COMMUNICATE
        + "\n## Post mortem\n\n- [ ] Meet\n\n### Actions\n<!-- incident: followups=yes -->\n\n"
        + "- [ ] Fix the alerts\n"
    )
    t = parse_template(text)
    assert [(c.name, c.stage, c.followups) for c in t.checklists] == [
        ("Talk", Stage.DECLARED, False),
        ("Post mortem", Stage.RESOLVED, False),
        ("Actions", Stage.RESOLVED, True),
    ]
    assert t.followups is not None and t.followups.name == "Actions"
    again = parse_template(render_template(t)).followups
    assert again is not None and again.followups and again.name == "Actions"
    assert parse_template(COMMUNICATE).followups is None


def test_marker_text_in_code_is_not_a_marker() -> None:
    text = "## A\n\n- [ ] write `<!-- incident: colour=red -->` here\n\n" + COMMUNICATE
    assert parse_template(text).checklists[0].items[0].text == (
        "write `<!-- incident: colour=red -->` here"
    )


def test_front_matter_sets_cadence_and_keeps_line_numbers() -> None:
    text = (
        "---\nreminder_seconds: 900\nstatus_update_seconds: 1800\n---\n"
        "# Title\n\n## A\n\n- [ ] first\n\n" + COMMUNICATE
    )
    t = parse_template(text)
    assert t.cadence == Cadence(reminder_seconds=900, status_update_seconds=1800)
    assert t.checklists[0].line == 7
    assert t.checklists[0].items[0].line == 9
    assert t.title == "Title"
    assert parse_template("---\n---\n" + COMMUNICATE).cadence == Cadence()


def test_title_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "our-process.md"
    path.write_text(COMMUNICATE, encoding="utf-8")
    assert load_template(path).title == "our-process"


# --- errors --------------------------------------------------------------------------------

BAD = [
    ("## A <!-- incident: colour=red -->\n\n- [ ] x\n", 1, "unknown marker key 'colour'"),
    ("## A\n<!-- incident: phase=later -->\n\n- [ ] x\n", 2, "unknown phase 'later' in marker"),
    ("## A\n\n- [ ] x <!-- incident: communicate=soon -->\n", 3, "unknown communicate 'soon'"),
    ("## A\n\n- [ ] x <!-- incident: phase=resolved -->\n", 3, "belongs at the end of a heading"),
    ("## A <!-- incident: communicate=workaround -->\n\n- [ ] x\n", 1, "end of a task item"),
    ("## A\n\n- [ ] x\n\n<!-- incident: phase=resolved -->\n", 5, "right after a heading"),
    (
        "## A\n\nSome <!-- incident: phase=resolved --> text.\n",
        3,
        "belongs at the end of a heading",
    ),
    ("## A\n\n- [ ] x\n- [ ]\n", 4, "the task item is empty"),
    ("## A\n\n- [ ] <!-- incident: communicate=detection -->\n", 3, "the task item is empty"),
    ("Intro.\n\n- [ ] x\n", 3, "comes before any heading"),
    ("## Talk\n\n- [ ] again\n", 5, "the checklist 'Talk' is already on line 1"),
    ("## Talk\n\n- [ ] x\n\n## A\n\n- [ ] y\n", 9, "the checklist 'Talk' is already on line 1"),
    (
        "## A <!-- incident: followups=yes -->\n\n- [ ] x\n",
        1,
        "the follow-ups checklist 'A' is added at declaration",
    ),
    ("## A <!-- incident: followups=no -->\n\n- [ ] x\n", 1, "unknown followups 'no'"),
    ("## A\n\n- [ ] x <!-- incident: followups=yes -->\n", 3, "belongs at the end of a heading"),
]
BAD_TAIL = [  # the communication section comes first (lines 1-6), the problem after it
    (
        "## PM <!-- incident: phase=resolved followups=yes -->\n\n- [ ] x\n\n"
        "## Actions <!-- incident: phase=resolved followups=yes -->\n\n- [ ] y\n",
        12,
        "the follow-ups are the checklist 'PM' already (line 8)",
    ),
    (
        "## Post mortem <!-- incident: followups=yes -->\n\n### Agenda\n\n- [ ] x\n",
        8,
        "followups=yes marks a heading with no task items",
    ),
    ("## Talk\n\n- [ ] x\n", 8, "the checklist 'Talk' is already on line 1"),
]
BAD_WHOLE = [
    ("# Title\n\nJust words.\n", 1, "the template has no checklist"),
    (
        "## Talk <!-- incident: phase=resolved -->\n" + COMMUNICATE.split("\n", 1)[1],
        1,
        "no checklist is in the declared phase",
    ),
    (
        "## T\n\n- Consider communicating:\n  - [ ] first notice\n  - [ ] all resolved\n",
        1,
        "no item says when to communicate that there is a workaround: "
        "mark one with <!-- incident: communicate=workaround -->",
    ),
    (
        COMMUNICATE + "- [ ] Also <!-- incident: communicate=detection -->\n",
        1,
        "no item says when to communicate that there is a workaround",
    ),
    (
        COMMUNICATE
        + "- [ ] a <!-- incident: communicate=detection -->\n"
        + "- [ ] b <!-- incident: communicate=detection -->\n",
        8,
        "the detection moment is already on line 7",
    ),
    (COMMUNICATE + "  - [ ] When we first notice it again.\n", 7, "moment is already on line 4"),
    ("---\nreminder_seconds: 60\nsnooze: 5\n---\n" + COMMUNICATE, 3, "unknown front matter key"),
    ("---\n\nrole_reminder_seconds: 0\n---\n" + COMMUNICATE, 3, "role_reminder_seconds must be"),
    ("---\nreminder_seconds: ten\n---\n" + COMMUNICATE, 2, "a positive whole number of seconds"),
    ("---\nreminder_seconds: true\n---\n" + COMMUNICATE, 2, "not True"),
    ("---\nreminder_seconds: 60\n" + COMMUNICATE, 1, "has no closing --- line"),
    ("---\nreminder_seconds: [1\n---\n" + COMMUNICATE, 3, "not valid YAML"),
    ("---\n- 60\n---\n" + COMMUNICATE, 2, "must be 'key: value' lines"),
    ("## A\n\n- [ ] " + "x" * 16385 + "\n\n" + COMMUNICATE, 3, "longer than Trello's 16384"),
    (
        "## P\n\n- " + "c" * 16380 + ":\n  - [ ] abcd\n\n" + COMMUNICATE,
        4,
        "longer than Trello's",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [(t + "\n" + COMMUNICATE, n, f) for t, n, f in BAD]
    + [(COMMUNICATE + "\n" + t, n, f) for t, n, f in BAD_TAIL]
    + BAD_WHOLE,
)
def test_bad_templates_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(text, path="team.md")
    message = str(caught.value)
    assert message.startswith(f"team.md, line {line}: ")
    assert fragment in message
    assert message.endswith(".") and caught.value.line == line


def test_template_error_is_a_config_error() -> None:
    assert issubclass(TemplateError, ConfigError)


def test_unreadable_files_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    with pytest.raises(TemplateError, match=r"nope\.md: cannot read the template \(.+\)\.$"):
        load_template(missing)
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"## A\n\n- [ ] \xff\n")
    with pytest.raises(
        TemplateError, match=r"binary\.md, line 3: the template is not UTF-8 text\.$"
    ):
        load_template(binary)


def test_a_just_long_enough_name_is_accepted() -> None:
    text = "## A\n\n- [ ] " + "x" * 16384 + "\n\n" + COMMUNICATE
    assert len(parse_template(text).checklists[0].items[0].name) == 16384


# --- round trip ----------------------------------------------------------------------------

WORDS = st.sampled_from(
    ["alpha", "beta", "call", "team", "card", "zoom", "**bold**", "_soft_", "`code`", "é", "→"]
    + ["[link](https://example.com/a)", "<!-- note -->", "tick?", "end."]
)
TEXT = st.lists(WORDS, min_size=1, max_size=5).map(" ".join)


@dataclass
class Task:
    text: str
    moment: Moment | None
    children: list[Task | Group]


@dataclass
class Group:
    text: str
    tasks: list[Task]


def _tasks(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    task = st.builds(Task, TEXT, st.none(), st.lists(kids, max_size=2))
    group = st.builds(Group, TEXT.map(lambda t: t + ":"), st.lists(task, min_size=1, max_size=2))
    return task | group


NODE = st.recursive(st.builds(Task, TEXT, st.none(), st.just([])), _tasks, max_leaves=6)


def _write(node: Task | Group, indent: int, bullet: str, checked: str, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(node, Group):
        out.append(f"{pad}{bullet} {node.text}")
        for task in node.tasks:
            _write(task, indent + len(bullet) + 1, bullet, checked, out)
        return
    marker = f" <!-- incident: communicate={node.moment.value} -->" if node.moment else ""
    out.append(f"{pad}{bullet} [{checked}] {node.text}{marker}")
    for child in node.children:
        _write(child, indent + len(bullet) + 1, bullet, checked, out)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, int]:
    """Template source in varied syntax, and how many task items it has."""
    count = draw(st.integers(1, 4))
    explicit = draw(st.booleans())
    chunks: list[str] = []
    cadence = draw(
        st.dictionaries(
            st.sampled_from(["reminder_seconds", "role_reminder_seconds"]), st.integers(1, 10**6)
        )
    )
    if cadence:
        chunks.append("---\n" + "".join(f"{k}: {v}\n" for k, v in cadence.items()) + "---")
    chunks.append("# Incident response\n\nIntro text.\n\n## Checklist")
    sections: list[list[Task | Group]] = []
    for index in range(count):
        name = draw(TEXT) + f" {index}"
        if index and draw(st.booleans()):
            name = "Post mortem " + name
        phase = draw(st.sampled_from(["", "declared", "resolved"])) if index else ""
        if phase and draw(st.booleans()):
            name += f"\n<!-- incident: phase={phase} -->"
        elif phase:
            name += f" <!-- incident: phase={phase} -->"
        chunks.append("#" * draw(st.integers(2, 4)) + " " + name)
        if draw(st.booleans()):
            chunks.append(draw(TEXT) + "\n" + draw(TEXT))
        nodes = draw(st.lists(NODE, min_size=1, max_size=3))
        sections.append(nodes)
        bullet, checked = draw(st.sampled_from("-*+")), draw(st.sampled_from(" xX"))
        if index == 0 and not explicit:
            nodes.append(
                Group(
                    "Consider communicating:",
                    [Task(t, None, []) for t in ("first notice", "a workaround", "resolved")],
                )
            )
        lines: list[str] = []
        for node in nodes:
            _write(node, 0, bullet, checked, lines)
        if explicit and index == count - 1:
            for moment in Moment:
                lines.append(
                    f"{bullet} [ ] tell {moment.value} <!-- incident: communicate="
                    f"{moment.value} -->"
                )
        chunks.append("\n".join(lines))
        if draw(st.booleans()):
            chunks.append(f"{bullet} " + draw(TEXT) + "\n\n" + draw(TEXT))
    chunks.append("## Inspiration\n\n* [somewhere](https://example.com/)")
    total = sum(_count(n) for nodes in sections for n in nodes) + (3 if explicit else 0)
    return "\n\n".join(chunks) + "\n", total


def _count(node: Task | Group) -> int:
    if isinstance(node, Group):
        return sum(_count(t) for t in node.tasks)
    return 1 + sum(_count(c) for c in node.children)


@settings(max_examples=100, deadline=None)
@given(templates())
def test_render_round_trips(case: tuple[str, int]) -> None:
    text, total = case
    template = parse_template(text)
    assert sum(len(c.items) for c in template.checklists) == total
    again = parse_template(render_template(template))
    assert shape(again) == shape(template)
    assert render_template(again) == render_template(template)
