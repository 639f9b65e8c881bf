"""Trello's limits on what the worker writes, and texts cut to fit them. Pure.

Trello takes at most 16,384 characters in a comment, a card's description and a card's name,
and refuses a longer one with 400; quoting people's text makes it longer, so the worker bounds
what it writes rather than have Trello refuse it. People's words quoted in a comment are cut
first (`quoting.quote` keeps at most `QUOTED` of them, with a visible ellipsis); a comment
still too long loses its last lines, and says so. A description is people's: the worker never
cuts it (see `header.fit`).
"""

from __future__ import annotations

#: The most characters Trello takes in a comment, a description or a card's name.
TEXT_MAX = 16384
#: The most characters of a person's text the worker repeats in one place (an ellipsis
#: marks the cut): a workaround's description, a reason, a card's or a list's name.
QUOTED = 1000
#: The longest name the worker gives a card, a checklist or an attachment it makes.
NAME_MAX = 250

CUT = "\n\n… (the rest is left out: Trello takes at most 16,384 characters in a comment)"


def shortened(text: str, most: int) -> str:
    """`text`, or its first `most - 1` characters and an ellipsis."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def fit(text: str, room: int) -> str:
    """`text` in at most `room` characters: whole lines kept while they fit, then a line that
    says the rest is left out. A line is never cut in its middle unless it alone is too long
    (a quote is one line, so its markup stays whole)."""
    if len(text) <= room:
        return text
    keep = room - len(CUT)
    head = text[:keep]
    cut_at = head.rfind("\n")
    if cut_at > 0:
        head = head[:cut_at]
    return head.rstrip() + CUT
