"""The people to tell and the words to tell them: the template's `audiences`, or the seed's.

    audiences:
      - name: support                  # the short name `/tell support` uses
        item: The support team.        # the check item that stands for them (its start)
        noticed: We are looking into a problem: {incident}. Next update {next_update}.
        workaround: "{incident}: there is a workaround: {workaround}"
        resolved: "{incident} is resolved. Thank you for your patience."

Each message may use the placeholders `{incident}` (the card's name), `{severity}`, `{impact}`
(what the severity level means), `{update}` (the latest status update), `{workaround}` (the
workaround's description), `{next_update}` (when the next update is due) and `{call}` (the
call link); anything else in braces is an error naming its line. A template without
`audiences` gets the seed's three (support, auction houses, buyers and sellers) in the seed's
voice. What fills a placeholder is quoted (people's words never become markup or mentions).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

MOMENTS = ("noticed", "workaround", "resolved")
PLACEHOLDERS = ("incident", "severity", "impact", "update", "workaround", "next_update", "call")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class Audience:
    name: str
    #: the start of the check item that stands for them ("" when none does)
    item: str
    #: moment ("noticed", "workaround", "resolved") -> the message, with placeholders
    messages: Mapping[str, str]


SEED: tuple[Audience, ...] = (
    Audience(
        "support",
        "The support team.",
        {
            "noticed": "We are looking into a problem: {incident} ({impact}). Please tell "
            "anyone who asks that we are on it; next update {next_update}.",
            "workaround": "{incident}: there is a workaround: {workaround}. Latest: {update}.",
            "resolved": "{incident} is resolved. Thank you for handling the questions.",
        },
    ),
    Audience(
        "auction-houses",
        "Auction houses",
        {
            "noticed": "We know of a problem ({incident}) and are working on it. We will "
            "update you {next_update}.",
            "workaround": "While we fix {incident}, this works: {workaround}.",
            "resolved": "{incident} is resolved. We are sorry for the trouble.",
        },
    ),
    Audience(
        "buyers-sellers",
        "Buyers, sellers",
        {
            "noticed": "Some of you may have trouble: {incident}. We are working on it.",
            "workaround": "While we fix it: {workaround}.",
            "resolved": "The problem is fixed: {incident}. Thank you for your patience.",
        },
    ),
)


def read(
    value: Any, node: yaml.Node, error: Callable[[int, str], Exception]
) -> tuple[Audience, ...]:
    """The audiences from the front matter's `audiences` value (`node`: where each one is)."""
    if not isinstance(value, list) or not value or not isinstance(node, yaml.SequenceNode):
        raise error(node.start_mark.line + 2, "audiences must be a list of the people to tell")
    found: list[Audience] = []
    for item, item_node in zip(value, node.value, strict=True):
        line = item_node.start_mark.line + 2
        if not isinstance(item, dict) or not isinstance(item_node, yaml.MappingNode):
            raise error(line, "each audience must be 'key: value' lines (name, item, ...)")
        lines = {str(k.value): k.start_mark.line + 2 for k, _ in item_node.value}
        unknown = [key for key in item if key not in ("name", "item", *MOMENTS)]
        if unknown:
            known = ", ".join(("name", "item", *MOMENTS))
            raise error(lines[str(unknown[0])], f"unknown audience key '{unknown[0]}': use {known}")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise error(line, "an audience needs a short name in lowercase letters and dashes")
        if any(a.name == name for a in found):
            raise error(line, f"two audiences are named '{name}'")
        messages = {}
        for moment in MOMENTS:
            text = item.get(moment)
            if text is None:
                continue
            if not isinstance(text, str) or not text.strip():
                raise error(lines[moment], f"{moment} of audience '{name}' must be a message")
            wrong = _placeholders(text)
            if wrong:
                raise error(
                    lines[moment],
                    f"{moment} of audience '{name}' uses {{{wrong}}}, which is no placeholder "
                    f"(use {', '.join('{' + p + '}' for p in PLACEHOLDERS)})",
                )
            messages[moment] = " ".join(text.split())
        found.append(Audience(name, str(item.get("item") or "").strip(), messages))
    return tuple(found)


def _placeholders(text: str) -> str | None:
    """The first placeholder `text` uses that is none of PLACEHOLDERS (or a broken brace); a
    format spec or conversion (`{incident:>999999999}`) is none either."""
    try:
        parts = [
            (f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text) if f is not None
        ]
    except ValueError:
        return "a brace that is not closed"
    for field, spec, conversion in parts:
        if field not in PLACEHOLDERS or spec or conversion:
            return field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    return None


def fill(message: str, values: Mapping[str, str]) -> str:
    """`message` with its placeholders filled from `values` (each quoted by the caller)."""
    return message.format_map({p: values.get(p, "") for p in PLACEHOLDERS})
