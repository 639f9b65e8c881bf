"""Trello's Markdown, rendered as Trello shows a comment or a description (pure).

CommonMark with strikethrough, a line break for each new line (as Trello keeps them), no raw
HTML (it is shown as text) and no link to anything but http(s) and mailto; an @mention of a
member of the board is shown as a mention, as Trello does, but not inside code.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from html import escape

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

MENTION = re.compile(r"(?<![\w.@])@([a-z0-9_]{1,64})")
SAFE_LINK = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)


class _TrelloMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:  # noqa: N802 (markdown-it's name)
        return bool(SAFE_LINK.match(url.strip()))


_MD = _TrelloMarkdown("commonmark", {"html": False, "breaks": True}).enable("strikethrough")


def render(text: str, usernames: Collection[str]) -> Markup:
    """`text` as HTML, safe to put in a page; `@name` of one of `usernames` is a mention."""
    env = {"usernames": frozenset(usernames)}
    tokens = _MD.parse(text, env)
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = _mentioned(token.children, env["usernames"])
    return Markup(_MD.renderer.render(tokens, _MD.options, env))  # noqa: S704 (escaped)


def _mentioned(children: list[Token], usernames: frozenset[str]) -> list[Token]:
    out: list[Token] = []
    for child in children:
        if child.type != "text" or "@" not in child.content:
            out.append(child)
            continue
        at = 0
        for match in MENTION.finditer(child.content):
            if match.group(1) not in usernames:
                continue
            if match.start() > at:
                out.append(_text(child.content[at : match.start()]))
            mention = Token("html_inline", "", 0)
            mention.content = f'<span class="mention">@{escape(match.group(1))}</span>'
            out.append(mention)
            at = match.end()
        if at < len(child.content):
            out.append(_text(child.content[at:]))
    return out


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token
