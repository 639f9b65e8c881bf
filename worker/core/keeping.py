"""Which worker keeps a board: the claim each writes on its template card, read and judged.

Two workers with databases of their own (two folders with a SQLite file each, two servers) must
not both act on one board: both would declare every incident and post every reminder. Workers
that share a database (replicas) share its id and divide the boards through their leases.

Each worker writes its claim into the description of its own template card, the archived
card it keeps on every board: the id of its database, its host and process, since when it
keeps the board and when it last said so (every `STAMP_EVERY`). A worker taking up a board
reads the claims on the board's archived cards; the board is another's when a claim of another
database was seen within `KEPT_FOR` and is older than its own (the earlier `since` keeps the
board; two claims made in one instant are told apart by the database ids). A worker that is
gone stops stamping, and its claim lapses. Purely computational, no side effects: the shell
reads the cards and writes the claim these functions give it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: A claim not stamped for this long has lapsed: its worker is taken for gone.
KEPT_FOR = timedelta(minutes=15)
#: How often a worker stamps its claim (and looks at the others' again).
STAMP_EVERY = timedelta(minutes=5)

_LINE = re.compile(
    r"^Kept by incident-worker on `(?P<host>[^`\n]{1,200})` \(process (?P<pid>\d{1,10})\) "
    r"since (?P<since>\S+); last seen (?P<seen>\S+); database `(?P<database>[0-9a-f]{6,64})`\.$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Claim:
    """One worker's claim on a board, as its template card's description states it."""

    database: str
    host: str
    pid: int
    since: datetime
    seen: datetime

    def line(self) -> str:
        """The claim as it is written on the card (one line of the description)."""
        return (
            f"Kept by incident-worker on `{self.host}` (process {self.pid}) since "
            f"{_iso(self.since)}; last seen {_iso(self.seen)}; database `{self.database}`."
        )

    def who(self) -> str:
        """The worker, as a log line names it."""
        return f"the one on {self.host!r} (process {self.pid}) since {_shown(self.since)}"


def read(description: str) -> Claim | None:
    """The claim a card's description states, or None (a person's text, a damaged line)."""
    found = _LINE.search(description)
    if found is None:
        return None
    try:
        since = datetime.fromisoformat(found["since"])
        seen = datetime.fromisoformat(found["seen"])
    except ValueError:
        return None
    if since.tzinfo is None or seen.tzinfo is None:
        return None
    return Claim(found["database"], found["host"], int(found["pid"]), since, seen)


def stamped(description: str, claim: Claim) -> str:
    """The description with `claim` in place of the claim it held (or added at its end)."""
    if _LINE.search(description):
        return _LINE.sub(lambda _: claim.line(), description, count=1)
    return f"{description.rstrip()}\n\n{claim.line()}" if description.strip() else claim.line()


def kept_by(claims: Iterable[Claim], ours: Claim, now: datetime) -> Claim | None:
    """The claim that keeps the board from us, or None when the board is ours to work on.

    Only another database's claim seen within `KEPT_FOR` counts, and only if it is older
    than ours (since, then the database id).
    """
    rivals = [
        claim
        for claim in claims
        if claim.database != ours.database
        and now - claim.seen < KEPT_FOR
        and (claim.since, claim.database) < (ours.since, ours.database)
    ]
    return min(rivals, key=lambda c: (c.since, c.database)) if rivals else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
