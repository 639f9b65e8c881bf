"""People's words, quoted: what a person typed never becomes live markup, a mention or a link.

The worker repeats text from Trello in its comments, the header and the post-mortem draft (a
workaround's description, an all-hands reason, a card's, a list's or a label's name, a check
item's name). Trello renders Markdown, links web addresses and notifies @mentions, so the text
is made inert first, on one line and bounded (`bounds.QUOTED` characters, an ellipsis marking
the cut):

- control and format characters (bidi overrides, zero-width characters) are dropped;
- every character with inline Markdown meaning is escaped with a backslash (CommonMark shows
  it as the plain character);
- every `@` gets a zero-width space after it, so `@board` looks the same but notifies nobody;
- a web address gets one after its `://` (and `www` one before its dot), so it shows as typed
  but is not a link.

`plain` does the same for names the worker gives things Trello shows as plain text (an
attachment's, a card's): nothing to escape there, the rest alike.
"""

from __future__ import annotations

import re
import unicodedata

from worker.core.bounds import QUOTED, shortened

_MARKUP = re.compile(r"([\\`*_\[\]<>&!|~])")
_ZWSP = "\u200b"
#: A Trello username: letters, digits and underscores, starting with a letter or a digit (so
#: that `@_x_` cannot be emphasis).
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,99}")


def _inert(text: str, most: int) -> str:
    shown = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Co"))
    flat = shortened(" ".join(shown.split()), most)
    return flat.replace("@", "@" + _ZWSP).replace("://", ":" + _ZWSP + "//")


def quote(text: str, most: int = QUOTED) -> str:
    """`text` on one line, at most `most` characters of it, markup escaped, mentions and links
    disarmed."""
    escaped = _MARKUP.sub(r"\\\1", _inert(text, most))
    return re.sub(r"(?i)\bwww\\?\.", lambda m: m[0][:3] + _ZWSP + m[0][3:], escaped)


def plain(text: str, most: int = QUOTED) -> str:
    """`text` for a plain-text field: one line, bounded, mentions and links disarmed."""
    return re.sub(r"(?i)\bwww\.", "www" + _ZWSP + ".", _inert(text, most))


def mention(username: str | None) -> str:
    """`@username`, which notifies that person; a name that is no Trello username is quoted."""
    if not username:
        return "(nobody yet)"
    if _USERNAME.fullmatch(username):
        return f"@{username}"
    return quote(username, 100)
