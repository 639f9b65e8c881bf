"""Names from Trello never speak through the worker: a property test over hostile names.

Every string Trello hands the worker (list, label, card, check item and member names, people's
comments) may hold mentions, links, images, HTML, Markdown, control, bidi and zero-width
characters. Whatever the name, what the worker writes with it (comments, the header,
attachment names, the post-mortem draft) holds exactly the live markup, mentions and links it
holds with a plain name: only what the worker put there itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tests.factories import MEMBERS, TEMPLATE, a_policy, an_event
from worker.core import commands, declaring, header, reminders, rules
from worker.core import trello_json as tj
from worker.core.model import Comment, CommItem, Incident, Phase, name_key
from worker.report import timeline
from worker.template import Moment

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy(TEMPLATE, "w0", reminder_seconds=60)
PLAIN = "x"

FRAGMENTS = [
    "@board",
    "@card",
    "@alice",
    "[reset your password](https://evil.example/login)",
    "![x](https://evil.example/x.png)",
    "<script>alert(1)</script>",
    "<b>x</b>",
    "<https://evil.example>",
    "**bold**",
    "_em_",
    "`code`",
    "https://evil.example/login",
    "www.evil.example",
    "\n# heading\n",
    "\n> quote\n",
    "\n- item\n",
    "|a|b|\n|-|-|",
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",
    "\u200d",
    "\x1b[31m",
    "\x00",
    "\\",
    "&amp;",
    "URGENT",
]
NAMES = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), min_size=1, max_size=6
).map("".join)


def alive(text: str, name: str) -> Counter[str]:
    """What in `text` is live when rendered: tags, mentions, links, control characters (a
    mention of `name` itself, a Trello username given as one, counted as "the name")."""
    html = MarkdownIt("commonmark").render(text)
    found: Counter[str] = Counter(
        re.findall(r"<(a|img|strong|em|code|script|b|h\d|blockquote|ul|ol|table)\b", html)
    )
    found.update(
        f"mention {'the name' if m == name else m}"
        for m in re.findall(r"(?<![\w\u200b\\])@([A-Za-z0-9_]+)", text)
    )
    found.update("link" for _ in re.findall(r"(?i)\b(?:https?|ftp)://|\bwww\.", text))
    found.update(
        f"char {ord(ch):x}"
        for ch in text
        if ch not in "\n\u200b" and unicodedata.category(ch) in ("Cc", "Cf", "Co")
    )
    return found


def incident(**update: Any) -> Incident:
    declared, _ = rules.declare("c1", "Checkout", "b1", by="alice", at=T0, policy=POLICY)
    items = {m: CommItem(checklist_id="cl1", item_id=f"i-{m.value}", name=PLAIN) for m in Moment}
    return declared.model_copy(update={"comm_items": items, **update})


def texts(effects: list[Any]) -> list[str]:
    return [e.text for e in effects if isinstance(e, Comment)]


def moved_back(name: str) -> list[str]:
    resolved = incident(phase=Phase.RESOLVED, phase_started={Phase.RESOLVED: T0})
    event = an_event(tj.CardMoved, T0, "bob", list_before="Done", list_after=name)
    return texts(rules.on_event(resolved, event, POLICY, MEMBERS)[1])  # type: ignore[index]


def moved_to_resolved(name: str) -> list[str]:
    policy = replace(POLICY, resolved_lists=frozenset({name_key(name)}))
    event = an_event(tj.CardMoved, T0, "bob", list_before="Doing", list_after=name)
    return texts(rules.on_event(incident(), event, policy, MEMBERS)[1])  # type: ignore[index]


def label_removed(name: str) -> list[str]:
    policy = replace(POLICY, resolved_label=name or PLAIN)
    resolved = incident(phase=Phase.RESOLVED, phase_started={Phase.RESOLVED: T0})
    event = an_event(tj.LabelRemoved, T0, "bob", label=name or PLAIN)
    return texts(rules.on_event(resolved, event, policy, MEMBERS)[1])  # type: ignore[index]


def renamed_item(name: str) -> list[str]:
    items = {Moment.DETECTION: CommItem(checklist_id="cl1", item_id="i1", name=name)}
    _, due = reminders.due(incident(comm_items=items), T0 + timedelta(minutes=5), POLICY)
    return [c.text for c in due]


def card_names(name: str) -> list[str]:
    card = tj.Card(
        id="s1",
        name=name,
        board_id="b2",
        list_id="l1",
        short_link="abc",
        short_url="https://trello.com/c/abc",
        desc="",
        label_ids=(),
        label_names=(),
        last_activity=T0,
        checklists=None,
    )
    own = replace(card, id="c1", name=f"Incident: {name}")
    _, effects = declaring.link(incident(), own, card)
    return [getattr(e, "name", "") or getattr(e, "text", "") for e in effects]


def roles_named(name: str) -> list[str]:
    named = incident(lead=name, communicator=name, delvers=(name,))
    return [header.render(named), commands.help_text(named)]


def drafted(name: str) -> list[str]:
    def action(kind: str, minutes: int, **data: Any) -> dict[str, Any]:
        return {
            "id": f"a{minutes}",
            "type": kind,
            "date": (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "idMemberCreator": "m1",
            "memberCreator": {"id": "m1", "username": "alice"},
            "data": {"card": {"id": "c1", "name": name}, **data},
        }

    history = [
        action("addLabelToCard", 0, label={"id": "l1", "name": "Incident"}, text="Incident"),
        action("commentCard", 1, text=name),
        action("addLabelToCard", 2, label={"id": "l9", "name": name}, text=name),
        action(
            "updateCard",
            3,
            listBefore={"id": "1", "name": name},
            listAfter={"id": "2", "name": name},
            old={"idList": "1"},
        ),
        action(
            "updateCheckItemStateOnCard",
            4,
            checklist={"id": "cl", "name": name},
            checkItem={"id": "ci", "name": name, "state": "complete"},
        ),
    ]
    report = timeline.build_report(history, card_name=name, template_version="v", policy=POLICY)
    return [timeline.render_markdown(report, TEMPLATE, UTC)]


WRITERS: list[Callable[[str], list[str]]] = [
    moved_back,
    moved_to_resolved,
    label_removed,
    renamed_item,
    card_names,
    roles_named,
    drafted,
]


@settings(max_examples=150, deadline=None)
@given(name=NAMES)
def test_no_name_brings_markup_mentions_or_links_the_worker_did_not_put_there(name: str) -> None:
    for write in WRITERS:
        hostile, plain = write(name), write(PLAIN)
        more = [alive(h, name) - alive(p, PLAIN) for h, p in zip(hostile, plain, strict=True)]
        assert more == [Counter()] * len(plain), (write.__name__, hostile)
