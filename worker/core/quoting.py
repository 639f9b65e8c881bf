"""People's words, quoted: what a person typed never becomes live markup or a mention.

The worker repeats people's text in its comments, the header and the post-mortem draft (a
workaround's description, an all-hands reason, a card's name). Trello renders Markdown and
notifies @mentions, so the text is made inert first: every character with inline Markdown
meaning is escaped with a backslash (CommonMark shows it as the plain character) and every
`@` gets a zero-width space after it, so `@board` looks the same but notifies nobody.
"""

from __future__ import annotations

import re

_MARKUP = re.compile(r"([\\`*_\[\]<>&!|~])")


def quote(text: str) -> str:
    """`text` on one line, markup escaped, mentions disarmed."""
    flat = " ".join(text.split())
    return _MARKUP.sub(r"\\\1", flat).replace("@", "@\u200b")
