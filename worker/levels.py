"""Severity levels: the template's `severities`, read from its front matter, and looked up.

    severities:
      - name: critical
        means: Buyers or sellers cannot complete a sale.
        reminder_seconds: 600         # the communication reminders' first wait
        status_update_seconds: 900    # silence before a status update is asked for
        all_hands: true               # call everyone (`@board`) when it is declared or raised
        postmortem_days: 1            # business days to the post mortem's deadline
        postmortem_calendar_days: 3   # or calendar days (weekends count), instead
      - name: minor
        means: A minor fault, with a workaround.
        postmortem: false             # no post mortem: closed once the resolution is told

Levels are numbered from 1, the worst, in the order written; `/sev 1` and `/sev critical` both
name the first. Only `name` and `means` are required; what a level leaves out is the
template's (or the settings') own. A template without levels behaves as one level. Errors
name the line: `TemplateError`, as for the rest of the template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_NUMBERED = re.compile(r"(?:sev(?:erity)?[\s-]*)?(\d{1,2})")

#: Each key a level may have, with the kind of value it takes.
LEVEL_KEYS: dict[str, str] = {
    "name": "name",
    "means": "text",
    "reminder_seconds": "seconds",
    "status_update_seconds": "seconds",
    "all_hands": "yes or no",
    "postmortem": "yes or no",
    "postmortem_days": "days",
    "postmortem_calendar_days": "days",
}


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    means: str
    reminder_seconds: int | None = None
    status_update_seconds: int | None = None
    all_hands: bool = False
    postmortem: bool = True
    postmortem_days: int | None = None
    postmortem_calendar_days: int | None = None

    @property
    def shown(self) -> str:
        """`1 (critical)`."""
        return f"{self.number} ({self.name})"


def find(levels: Sequence[Level], word: str) -> Level | None:
    """The level `word` names: its number (`1`, `sev 1`, `SEV-1`) or its name, any case."""
    word = word.strip().lower()
    numbered = _NUMBERED.fullmatch(word)
    for level in levels:
        if word == level.name or (numbered and int(numbered[1]) == level.number):
            return level
    return None


def listed(levels: Sequence[Level]) -> str:
    """The levels in one line, as a reply lists them."""
    return "; ".join(f"{level.shown}: {level.means}" for level in levels)


def read(value: Any, node: yaml.Node, error: Callable[[int, str], Exception]) -> tuple[Level, ...]:
    """The levels from the front matter's `severities` value (`node`: where each one is)."""
    if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode) or not value:
        raise error(
            node.start_mark.line + 2, "severities must be a list of levels, the worst first"
        )
    levels: list[Level] = []
    for number, (item, item_node) in enumerate(zip(value, node.value, strict=True), start=1):
        line = item_node.start_mark.line + 2
        if not isinstance(item, dict) or not isinstance(item_node, yaml.MappingNode):
            raise error(line, f"severity {number} must be 'key: value' lines (name, means, ...)")
        lines = {str(k.value): k.start_mark.line + 2 for k, _ in item_node.value}
        fields: dict[str, Any] = {}
        for key, given in item.items():
            kind = LEVEL_KEYS.get(str(key))
            at = lines.get(str(key), line)
            if kind is None:
                known = ", ".join(LEVEL_KEYS)
                raise error(at, f"unknown key '{key}' in severity {number}: use {known}")
            wrong = _wrong(kind, given)
            if wrong:
                raise error(at, f"{key} of severity {number} must be {wrong}, not {given!r}")
            fields[str(key)] = given.strip() if isinstance(given, str) else given
        if "postmortem_days" in fields and "postmortem_calendar_days" in fields:
            raise error(line, f"severity {number} has both postmortem_days and _calendar_days")
        for needed in ("name", "means"):
            if needed not in fields:
                raise error(line, f"severity {number} needs a {needed}")
        if any(level.name == fields["name"] for level in levels):
            raise error(lines["name"], f"two severities are named '{fields['name']}'")
        levels.append(Level(number=number, **fields))
    return tuple(levels)


def _wrong(kind: str, value: Any) -> str | None:
    """What `value` should have been, or None when it is right for `kind`."""
    number = isinstance(value, int) and not isinstance(value, bool)
    if kind == "name" and not (isinstance(value, str) and _NAME.fullmatch(value.strip())):
        return "a short name in lowercase letters, digits and dashes"
    if kind == "text" and not (isinstance(value, str) and 0 < len(value.strip()) <= 200):
        return "one line of text (200 characters at most)"
    if kind == "seconds" and not (number and value > 0):
        return "a positive whole number of seconds"
    if kind == "days" and not (number and 0 <= value <= 60):
        return "a whole number of business days (0 to 60)"
    if kind == "yes or no" and not isinstance(value, bool):
        return "true or false"
    return None


def rendered(levels: Sequence[Level]) -> str:
    """The levels as front matter lines (for `template.render_template`)."""
    out = ["severities:"]
    for level in levels:
        out.append(f"  - name: {level.name}")
        out.append(f"    means: {yaml.safe_dump(level.means, width=1000).splitlines()[0]}")
        numbers = (
            "reminder_seconds",
            "status_update_seconds",
            "postmortem_days",
            "postmortem_calendar_days",
        )
        for key in numbers:
            if getattr(level, key) is not None:
                out.append(f"    {key}: {getattr(level, key)}")
        if level.all_hands:
            out.append("    all_hands: true")
        if not level.postmortem:
            out.append("    postmortem: false")
    return "\n".join(out) + "\n"
