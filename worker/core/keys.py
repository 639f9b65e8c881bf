"""The keys that make the worker's comments exactly-once, and the markers that show them.

Every comment the worker posts has a key: the incident (its card and when it was declared,
so a card declared again starts afresh) and the comment's kind and sequence, e.g.
`5f1c...:1764669600:remind-detection-2`. The store claims the key before the comment is
posted and marks it sent after; the comment itself ends with its marker, `iw:<kind>@<epoch>`,
so that a crash between posting and recording, or a lost database, is read back from the card.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from worker.core.model import Incident
from worker.core.trello_json import Posted

MARKER = re.compile(r"`iw:([^`@\s]+)@(\d+)`")


def _epoch(incident: Incident) -> int:
    return int(incident.declared_at.timestamp())


def comment_key(incident: Incident, key: str) -> str:
    """The store's key for one of this incident's comments (a re-declared card starts anew)."""
    return f"{incident.card_id}:{_epoch(incident)}:{key}"


def marker(full_key: str) -> str:
    """The marker that ends every comment the worker posts: `iw:<key>@<declared epoch>`."""
    _card, epoch, key = full_key.split(":", 2)
    return f"iw:{key}@{epoch}"


def posted_keys(
    incident: Incident, comments: Iterable[Posted], worker_member_id: str
) -> dict[str, str]:
    """The worker's comments on the card for this incident, by store key -> comment id."""
    epoch = str(_epoch(incident))
    found: dict[str, str] = {}
    for comment in comments:
        if comment.member_id != worker_member_id:
            continue
        for key, stamp in MARKER.findall(comment.text):
            if stamp == epoch:
                found[comment_key(incident, key)] = comment.id
    return found


def source_marker(source_card_id: str) -> str:
    """The marker in an incident card's description that names the card it was declared on."""
    return f"iw-src:{source_card_id}"


def followup_marker(item_id: str) -> str:
    """The marker in a follow-up card's description that names its check item."""
    return f"iw-fu:{item_id}"
