"""How long, as people write it in a command: `30m`, `45 min`, `1h`, `1h30m`, `90`. Pure."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(?:(?P<h>\d{1,3})\s*h)?\s*(?:(?P<m>\d{1,4})\s*(?:m|min)?)?$")


def length(text: str) -> timedelta | None:
    """How long `text` says (a bare number is minutes); None when it says no length."""
    found = _DURATION.match(text.strip().lower())
    if found is None or not (found["h"] or found["m"]):
        return None
    span = timedelta(hours=int(found["h"] or 0), minutes=int(found["m"] or 0))
    return span if span > timedelta(0) else None
