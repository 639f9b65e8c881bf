"""The incident template: the team's Markdown checklist, parsed (markdown-it-py) into plain data.

Checklists. A heading becomes a checklist when task items (``- [ ]``/``- [x]``, at any list
nesting) belong to it directly: after it and before the next heading. Other headings (the title,
"Checklist", "Inspiration") are not checklists and their text is ignored. Under a checklist
heading, paragraphs and plain bullets with no task items below them become its ``guidance``, in
order, as Markdown source (a bullet as ``"- text"``). Checklist names must be unique.

Items. ``text`` is the item's Markdown source (links, emphasis kept), markers removed, whitespace
collapsed. Trello checklists are flat, so nesting shows in the ``name``: ``depth`` counts the task
items an item is nested under and the name starts with one ``"↳ "`` per level. A task item under
a plain bullet that has task items below it (e.g. "Consider communicating:") gets that bullet's
text as ``context`` (several such bullets joined by spaces) and is named ``context + " " + text``:
"Consider communicating: When we first notice the problems.". Empty task items and names longer
than Trello's 16384 characters are refused.

Phases. The nearest of a checklist's heading and the headings above it that carries a ``phase=``
marker or mentions "post mortem" ("post-mortem", "postmortem", any case) decides: the marker's
value, or resolved for the mention; with neither, declared. At least one checklist is declared.

Communication moments. Exactly one item each means "communicated at detection / workaround /
resolution". By default these are the task items under a plain bullet mentioning "communicat"
whose text says "first notice", "workaround" or "resolved" (tried in that order). Once any item
carries a ``communicate=`` marker the defaults are off for the whole template. A moment with no
item, or with two, is an error.

Markers are HTML comments, invisible when rendered: ``<!-- incident: key=value ... -->``, several
pairs to a comment. ``phase=declared|resolved`` ends a heading line or stands alone on the lines
right after a heading (sub-headings inherit it). ``followups=yes`` goes the same places and marks
the one post-mortem checklist whose items are the follow-ups: each item on an incident's card
becomes a card of its own (see `worker.core.followups`). ``communicate=detection|workaround|
resolution`` ends a task item. Unknown keys or values, and markers anywhere else, are errors.

Front matter. An optional YAML block between ``---`` lines at the very top sets the cadence:
``reminder_seconds``, ``status_update_seconds``, ``role_reminder_seconds`` (the first interval
of each kind of reminder) and ``reminder_max_seconds`` (the ceiling the intervals double up to),
positive integers; ``escalate_after``, how many unanswered reminders about a message bring in
the lead (0: never), a whole number; ``escalate_to_board``, whether the next step after the
lead is ``@board`` (true or false); ``roles_by``, who may name the roles once there is a lead
(``lead``, the default: the lead, and the communicator may hand the lead over; or ``anyone``);
``severities``, the severity levels (see `worker.levels`); ``audiences``, the people to tell
and the messages for them (see `worker.messages`). Unknown keys and bad values are
errors naming the key's line; lines count from the file's top.

Errors are `TemplateError` (a `ConfigError`): ``"{path}, line {n}: {sentence}."``, or
``"{path}: {sentence}."`` when the file cannot be read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from worker import levels, messages
from worker.errors import ConfigError
from worker.levels import Level
from worker.messages import Audience

MAX_NAME_LENGTH = 16384
"""Trello refuses check item and checklist names longer than this."""

NESTED_PREFIX = "↳ "
"""Prepended to a check item's name once per task item it is nested under."""

#: The front matter's keys, each with the kind of value it takes (see the module docstring).
CADENCE_KEYS: dict[str, str] = {
    "reminder_seconds": "seconds",
    "status_update_seconds": "seconds",
    "role_reminder_seconds": "seconds",
    "reminder_max_seconds": "seconds",
    "escalate_after": "count",
    "escalate_to_board": "yes or no",
    "roles_by": "lead or anyone",
}

_MD = MarkdownIt("commonmark")
_TASK = re.compile(r"\[([ xX])\](?=\s|$)\s*")
#: `[]`, `[ x]`, `[X ]`, `[  ]`...: meant as a task item, not written as one
_ALMOST_TASK = re.compile(r"\[\s*[xX]?\s*\](?=\s|$)")
#: The marker keys a heading takes.
_HEADING_KEYS = "phase levels followups"
_MARKER = re.compile(r"<!--\s*incident\s*:(.*?)-->", re.DOTALL)
_POST_MORTEM = re.compile(r"post[\s-]?mortem", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


class Moment(str, Enum):  # noqa: UP042 (house style: str, Enum)
    DETECTION = "detection"
    WORKAROUND = "workaround"
    RESOLUTION = "resolution"


class Stage(str, Enum):  # noqa: UP042 (house style: str, Enum)
    DECLARED = "declared"
    RESOLVED = "resolved"


class _Yes(str, Enum):  # noqa: UP042 (house style: str, Enum)
    YES = "yes"


_DEFAULT_MOMENTS = (
    ("first notice", Moment.DETECTION),
    ("workaround", Moment.WORKAROUND),
    ("resolved", Moment.RESOLUTION),
)
_MOMENT_WORDS = {
    Moment.DETECTION: "that we have noticed the problem",
    Moment.WORKAROUND: "that there is a workaround",
    Moment.RESOLUTION: "that the problem is resolved",
}
_MARKER_VALUES: dict[str, type[Enum]] = {"phase": Stage, "communicate": Moment, "followups": _Yes}


class TemplateError(ConfigError):
    """The template cannot be read or does not describe a usable incident process."""

    def __init__(self, path: str, line: int | None, sentence: str):
        where = path if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {sentence}.")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Item:
    text: str
    name: str
    line: int
    moment: Moment | None
    depth: int
    context: str | None


@dataclass(frozen=True)
class Checklist:
    name: str
    stage: Stage
    items: tuple[Item, ...]
    guidance: tuple[str, ...]
    line: int
    #: the severity levels it is for (a ``levels=1,2`` marker); empty: every level
    levels: tuple[int, ...] = ()
    #: whether its items are the post mortem's follow-ups (a ``followups=yes`` marker)
    followups: bool = False


@dataclass(frozen=True)
class Cadence:
    reminder_seconds: int | None = None
    status_update_seconds: int | None = None
    role_reminder_seconds: int | None = None
    reminder_max_seconds: int | None = None
    escalate_after: int | None = None
    escalate_to_board: bool | None = None
    roles_by: str | None = None


@dataclass(frozen=True)
class Template:
    path: str
    version: str
    title: str
    checklists: tuple[Checklist, ...]
    cadence: Cadence
    #: the severity levels, the worst first (none: one level, as without severity)
    levels: tuple[Level, ...] = ()
    #: the people to tell and the words for them (none written: the seed's, `messages.SEED`)
    audiences: tuple[Audience, ...] = ()

    @property
    def to_tell(self) -> tuple[Audience, ...]:
        return self.audiences or messages.SEED

    def for_stage(self, phase: Stage) -> tuple[Checklist, ...]:
        return tuple(c for c in self.checklists if c.stage is phase)

    def for_level(self, phase: Stage, level: int | None) -> tuple[Checklist, ...]:
        """The stage's checklists an incident at `level` gets (None: a level not set yet, so
        only those for every level)."""
        return tuple(
            c
            for c in self.for_stage(phase)
            if not c.levels or (level is not None and level in c.levels)
        )

    @property
    def followups(self) -> Checklist | None:
        """The checklist whose items become follow-up cards (`followups=yes`), if any."""
        return next((c for c in self.checklists if c.followups), None)

    def communication(self, moment: Moment) -> tuple[Checklist, Item]:
        """The checklist and item that mean "communicated at `moment`"."""
        for checklist in self.checklists:
            for item in checklist.items:
                if item.moment is moment:
                    return checklist, item
        raise LookupError(f"{self.path}: no item for {moment.value}")


#: The largest template file read: a process, not a library.
MAX_TEMPLATE_BYTES = 1 << 20


def load_template(path: str | Path) -> Template:
    """Read and parse the template file at `path` (at most `MAX_TEMPLATE_BYTES`)."""
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                name, None, f"the template is {size:,} bytes; at most 1 MiB (1,048,576) is read"
            )
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TemplateError(
            name, None, f"cannot read the template ({exc.strerror or exc})"
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TemplateError(name, line, "the template is not UTF-8 text") from exc
    return parse_template(text, path=name)


def parse_template(text: str, *, path: str = "<template>") -> Template:
    """Parse template source; `path` only names the file in errors and on the result."""
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    body, cadence, extra = _front_matter(text.removeprefix("\ufeff"), path)
    parser = _Parser(path)
    parser.blocks(SyntaxTreeNode(_MD.parse(body)).children, depth=0, context=(), top=True)
    title = parser.title if parser.title is not None else Path(path).stem
    checklists = parser.checklists()
    known = len(extra.get("levels", ()))
    for checklist in checklists:
        wrong = [n for n in checklist.levels if not 1 <= n <= known]
        if wrong:
            levels_said = f"levels 1 to {known}" if known else "no severity levels"
            raise TemplateError(
                path,
                checklist.line,
                f"the checklist '{checklist.name}' is for level {wrong[0]}, but the template has "
                f"{levels_said}",
            )
    return Template(path, version, title, checklists, cadence, **extra)


def render_template(template: Template) -> str:
    """Markdown that parses back to the same checklists and cadence (every marker explicit)."""
    chunks: list[str] = []
    values = [(k, getattr(template.cadence, k)) for k in CADENCE_KEYS]
    front = "".join(f"{k}: {_yaml(v)}\n" for k, v in values if v is not None)
    if template.levels:
        front += levels.rendered(template.levels)
    if front:
        chunks.append(f"---\n{front}---")
    chunks.append(f"# {template.title}")
    for checklist in template.checklists:
        marker = f"phase={checklist.stage.value}"
        if checklist.levels:
            marker += f" levels={','.join(str(n) for n in checklist.levels)}"
        if checklist.followups:
            marker += " followups=yes"
        chunks.append(f"## {checklist.name} <!-- incident: {marker} -->")
        for text in checklist.guidance:
            bullet = text.startswith("- ")
            chunks.append(text.replace("\n", "\n  ") if bullet else text)
        lines: list[str] = []
        _render_items(checklist.items, 0, lines)
        chunks.append("\n".join(lines))
    return "\n\n".join(c for c in chunks if c) + "\n"


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(part) for part in text.split(",")}))


def _yaml(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _render_items(items: Sequence[Item], indent: int, out: list[str]) -> None:
    """Render sibling items (each followed by its deeper descendants) at `indent` spaces."""
    open_context: str | None = None
    i = 0
    while i < len(items):
        item, end = items[i], i + 1
        while end < len(items) and items[end].depth > item.depth:
            end += 1
        pad = indent
        if item.context is not None:
            if item.context != open_context:
                out.append(" " * indent + f"- {item.context}")
            pad += 2
        open_context = item.context
        marker = f" <!-- incident: communicate={item.moment.value} -->" if item.moment else ""
        out.append(" " * pad + f"- [ ] {item.text}{marker}")
        _render_items(items[i + 1 : end], pad + 2, out)
        i = end


def _front_matter(text: str, path: str) -> tuple[str, Cadence, dict[str, Any]]:
    """Split off the YAML front matter; blank lines replace it so body line numbers hold."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return text, Cadence(), {}
    end = next((n for n in range(1, len(lines)) if lines[n].strip() in ("---", "...")), None)
    if end is None:
        raise TemplateError(path, 1, "the front matter that starts here has no closing --- line")
    block = "".join(lines[1:end])
    try:
        for token in yaml.scan(block, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                line = token.start_mark.line + 2
                raise TemplateError(
                    path, line, "the front matter may not use YAML anchors or aliases (& or *)"
                )
        node = yaml.compose(block, Loader=yaml.SafeLoader)
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = exc.problem_mark if isinstance(exc, yaml.MarkedYAMLError) else None
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(exc, "problem", None) or "it cannot be parsed"
        raise TemplateError(path, line, f"the front matter is not valid YAML ({problem})") from exc
    body = "\n" * (end + 1) + "".join(lines[end + 1 :])
    if node is None:
        return body, Cadence(), {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise TemplateError(path, 2, "the front matter must be 'key: value' lines")
    key_lines = {str(k.value): k.start_mark.line + 2 for k, _ in node.value}
    value_nodes = {str(k.value): v for k, v in node.value}
    values: dict[str, Any] = {}  # checked against CADENCE_KEYS just below
    extra: dict[str, Any] = {}
    readers = {"severities": ("levels", levels.read), "audiences": ("audiences", messages.read)}
    for key, value in data.items():
        line = key_lines.get(str(key), 2)
        if key in readers:
            field, reader = readers[key]
            extra[field] = reader(
                value, value_nodes[key], lambda n, sentence: TemplateError(path, n, sentence)
            )
            continue
        kind = CADENCE_KEYS.get(key)
        if kind is None:
            known = ", ".join([*CADENCE_KEYS, "severities", "audiences"])
            raise TemplateError(path, line, f"unknown front matter key '{key}': use {known}")
        number = isinstance(value, int) and not isinstance(value, bool)
        if kind == "seconds" and not (number and value > 0):
            wrong = "a positive whole number of seconds"
        elif kind == "count" and not (number and value >= 0):
            wrong = "a whole number (0 for never)"
        elif kind == "yes or no" and not isinstance(value, bool):
            wrong = "true or false"
        elif kind == "lead or anyone" and value not in ("lead", "anyone"):
            wrong = "lead or anyone"
        else:
            values[key] = value
            continue
        raise TemplateError(path, line, f"{key} must be {wrong}, not {value!r}")
    return body, Cadence(**values), extra


@dataclass
class _Section:
    name: str
    line: int
    level: int
    parent: _Section | None
    stage: Stage | None = None
    items: list[Item] = field(default_factory=list)
    guidance: list[str] = field(default_factory=list)
    levels: tuple[int, ...] | None = None
    followups: bool = False

    def resolved_levels(self) -> tuple[int, ...]:
        section: _Section | None = self
        while section is not None:
            if section.levels is not None:
                return section.levels
            section = section.parent
        return ()

    def resolved_stage(self) -> Stage:
        section: _Section | None = self
        while section is not None:
            if section.stage is not None:
                return section.stage
            if _POST_MORTEM.search(section.name):
                return Stage.RESOLVED
            section = section.parent
        return Stage.DECLARED


class _Parser:
    """Walks the Markdown syntax tree once, collecting sections, items and markers."""

    def __init__(self, path: str):
        self.path = path
        self.title: str | None = None
        self.sections: list[_Section] = []
        self.marked = False  # some item carries a communicate= marker: defaults are off
        self.defaults: list[tuple[_Section, int, Moment]] = []  # (section, item index, moment)

    def error(self, line: int, sentence: str) -> TemplateError:
        return TemplateError(self.path, line, sentence)

    def blocks(
        self,
        nodes: Iterable[SyntaxTreeNode],
        depth: int,
        context: tuple[str, ...],
        top: bool = False,
    ) -> None:
        previous: SyntaxTreeNode | None = None
        for node in nodes:
            line = _line(node)
            if node.type == "heading" and top:
                self.heading(node, line)
            elif node.type == "html_block" and _MARKER.fullmatch(node.content.strip()):
                if not top or previous is None or previous.type != "heading":
                    raise self.error(
                        line, "a marker on its own line must come right after a heading"
                    )
                found = self.markers([node.content.strip()], line, allowed=_HEADING_KEYS)
                self.heading_markers(self.sections[-1], found)
            elif node.type == "paragraph":
                text, _ = self.inline(node, line, allowed="")
                self.add_guidance(text)
            elif node.type in ("bullet_list", "ordered_list"):
                for child in node.children:
                    self.list_item(child, depth, context)
            previous = node

    def heading(self, node: SyntaxTreeNode, line: int) -> None:
        text, found = self.inline(node, line, allowed=_HEADING_KEYS)
        name = _collapse(text)
        level = int(node.tag[1:])
        if level == 1 and self.title is None:
            self.title = name
        section = _Section(name, line, level, self._ancestor(level))
        self.heading_markers(section, found)
        self.sections.append(section)

    @staticmethod
    def heading_markers(section: _Section, found: dict[str, str]) -> None:
        if "phase" in found:
            section.stage = Stage(found["phase"])
        if "levels" in found:
            section.levels = _numbers(found["levels"])
        section.followups = section.followups or "followups" in found

    def _ancestor(self, level: int) -> _Section | None:
        section = self.sections[-1] if self.sections else None
        while section is not None and section.level >= level:
            section = section.parent
        return section

    def list_item(self, node: SyntaxTreeNode, depth: int, context: tuple[str, ...]) -> None:
        line = _line(node)
        children = list(node.children)
        first = children[0] if children and children[0].type == "paragraph" else None
        task = _task(node)
        if first is not None and task is not None:
            text, found = self.inline(first, line, allowed="communicate", start=task.end())
            marked = Moment(found["communicate"]) if "communicate" in found else None
            self.task(_collapse(text), line, depth, context, marked)
            self.blocks(children[1:], depth + 1, ())
            return
        text = raw = ""
        if first is not None and _ALMOST_TASK.match(first.children[0].content):
            raise self.error(
                line,
                "this looks like a task item but is not one: write `- [ ] ` (a space between "
                "the brackets) or `- [x] `",
            )
        if first is not None:
            raw, _ = self.inline(first, line, allowed="")
            text = _collapse(raw)
            children = children[1:]
        if _has_task(node):
            context = (*context, text) if text else context
        elif text:
            self.add_guidance("- " + raw.strip())
        self.blocks(children, depth, context)

    def task(
        self, text: str, line: int, depth: int, context: tuple[str, ...], marked: Moment | None
    ) -> None:
        if not self.sections:
            raise self.error(line, "this task item comes before any heading: put it under one")
        if not text:
            raise self.error(line, "the task item is empty")
        joined = " ".join(context) or None
        name = NESTED_PREFIX * depth + (f"{joined} " if joined else "") + text
        if len(name) > MAX_NAME_LENGTH:
            raise self.error(line, f"the item is longer than Trello's {MAX_NAME_LENGTH} characters")
        section = self.sections[-1]
        section.items.append(Item(text, name, line, marked, depth, joined))
        self.marked = self.marked or marked is not None
        if joined and "communicat" in joined.lower():
            lowered = text.lower()
            moment = next((m for words, m in _DEFAULT_MOMENTS if words in lowered), None)
            if moment is not None:
                self.defaults.append((section, len(section.items) - 1, moment))

    def add_guidance(self, text: str) -> None:
        if self.sections and text.strip():
            self.sections[-1].guidance.append(text.strip())

    def inline(
        self, node: SyntaxTreeNode, line: int, allowed: str, start: int = 0
    ) -> tuple[str, dict[str, str]]:
        """The block's inline source from `start`, without markers; and the markers' values."""
        inline = node.children[0]
        source = inline.content
        comments = [
            c.content
            for c in inline.children
            if c.type == "html_inline" and _MARKER.fullmatch(c.content)
        ]
        for comment in reversed(comments):
            at = source.rfind(comment)
            source = source[:at] + " " + source[at + len(comment) :]
        return source[start:], self.markers(comments, line, allowed)

    def markers(self, comments: list[str], line: int, allowed: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for comment in comments:
            match = _MARKER.fullmatch(comment)
            assert match is not None
            for pair in match.group(1).split():
                key, _, value = pair.partition("=")
                kind = _MARKER_VALUES.get(key)
                options = [str(m.value) for m in kind] if kind else []
                if key == "levels" and key in allowed.split():
                    if not re.fullmatch(r"\d{1,2}(,\d{1,2})*", value):
                        raise self.error(
                            line, f"levels= takes level numbers, e.g. levels=1,2 (got '{value}')"
                        )
                    found[key] = value
                    continue
                if kind is None and key != "levels":
                    problem = (
                        f"unknown marker key '{key}': use phase=, levels=, followups= or "
                        "communicate="
                    )
                elif key not in allowed.split():
                    where = "a task item" if key == "communicate" else "a heading"
                    problem = f"the {key}= marker belongs at the end of {where}"
                elif value not in options:
                    problem = f"unknown {key} '{value}' in marker: use {' or '.join(options)}"
                else:
                    found[key] = value
                    continue
                raise self.error(line, problem)
        return found

    def checklists(self) -> tuple[Checklist, ...]:
        if not self.marked:
            for section, index, moment in self.defaults:
                section.items[index] = replace(section.items[index], moment=moment)
        sections = [s for s in self.sections if s.items]
        if not sections:
            raise self.error(1, "the template has no checklist: put task items under a heading")
        seen: dict[str, int] = {}
        for s in sections:
            if s.name in seen:
                raise self.error(
                    s.line, f"the checklist '{s.name}' is already on line {seen[s.name]}"
                )
            seen[s.name] = s.line
        result = tuple(
            Checklist(
                s.name,
                s.resolved_stage(),
                tuple(s.items),
                tuple(s.guidance),
                s.line,
                s.resolved_levels(),
                s.followups,
            )
            for s in sections
        )
        if not any(c.stage is Stage.DECLARED for c in result):
            raise self.error(result[0].line, "no checklist is in the declared phase")
        followups = [c for c in result if c.followups]
        if len(followups) > 1:
            first, second = followups[:2]
            raise self.error(
                second.line,
                f"the follow-ups are the checklist '{first.name}' already (line {first.line}); "
                "only one checklist may say followups=yes",
            )
        for c in followups:
            if c.stage is not Stage.RESOLVED:
                raise self.error(
                    c.line,
                    f"the follow-ups checklist '{c.name}' is added at declaration; follow-ups "
                    "come from the post mortem: put it under a post-mortem heading",
                )
        for s in self.sections:
            if s.followups and not s.items:
                raise self.error(
                    s.line, "followups=yes marks a heading with no task items: it is no checklist"
                )
        lines: dict[Moment, int] = {}
        for item in (i for c in result for i in c.items if i.moment is not None):
            assert item.moment is not None
            if item.moment in lines:
                raise self.error(
                    item.line,
                    f"the {item.moment.value} moment is already on line {lines[item.moment]}; "
                    f"only one item may say when to communicate {_MOMENT_WORDS[item.moment]}",
                )
            lines[item.moment] = item.line
        for moment in Moment:
            if moment not in lines:
                raise self.error(
                    result[0].line,
                    f"no item says when to communicate {_MOMENT_WORDS[moment]}: mark one with "
                    f"<!-- incident: communicate={moment.value} -->",
                )
        return result


def _line(node: SyntaxTreeNode) -> int:
    return node.map[0] + 1 if node.map else 0


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _task(item: SyntaxTreeNode) -> re.Match[str] | None:
    """The `[ ]` prefix when this list item is a task item."""
    first = item.children[0] if item.children else None
    if first is None or first.type != "paragraph":
        return None
    return _TASK.match(first.children[0].content)


def _has_task(item: SyntaxTreeNode) -> bool:
    """Whether a task item is nested anywhere below this list item."""
    return any(n is not item and n.type == "list_item" and _task(n) for n in item.walk())
