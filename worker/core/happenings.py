"""What happened to an incident, read off the incident before and after a step. Pure.

Each happening has a kind (`declared`, `severity`, `roles`, `phase`, `update`, `told`,
`resolved`, `closed`, `stood down`, `archived`, `deleted`), what it says, and a key that is the
same however often the same step is looked at (a retry, a replica, a restart), so that what is
sent of it (signed outbound webhooks) is queued once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.core.model import Incident, Phase

ROLES = ("lead", "communicator", "delvers", "quickfixers")


@dataclass(frozen=True)
class Happening:
    kind: str
    key: str
    at: datetime
    detail: dict[str, Any]


def between(before: Incident | None, after: Incident, at: datetime) -> list[Happening]:
    """What changed from `before` (None: nothing yet) to `after`, at `at`."""
    epoch = int(after.declared_at.timestamp())
    found: list[Happening] = []

    def add(kind: str, key: str, **detail: Any) -> None:
        found.append(Happening(kind, f"{after.card_id}:{epoch}:{key}", at, detail))

    if before is None or before.declared_at != after.declared_at:
        add("declared", "declared", by=after.declared_by or None)
        before = None
    if after.severity is not None and (before is None or before.severity != after.severity):
        level, name = after.severity, after.severity_name
        add("severity", f"severity-{after.severity_changes}", level=level, name=name)
    roles = {role: getattr(after, role) for role in ROLES}
    changed = before is None or roles != {role: getattr(before, role) for role in ROLES}
    if changed and any(roles.values()):
        shown = "-".join(str(v) for v in roles.values())
        add("roles", f"roles-{shown}", **roles)
    if before is not None and after.phase != before.phase:
        kind = after.phase.value if after.phase in (Phase.RESOLVED, Phase.CLOSED) else "phase"
        add(kind, f"phase-{after.phase.value}-{after.resolutions}", phase=after.phase.value)
    if after.updates and (before is None or after.updates != before.updates):
        add("update", f"update-{after.updates}", text=after.last_update)
    for moment, told in after.told.items():
        for audience in told:
            if before is None or audience not in before.told.get(moment, {}):
                add("told", f"told-{moment}-{audience}", audience=audience, moment=moment)
    if after.ended is not None and (before is None or before.ended is None):
        add(after.ended.value, f"ended-{after.ended.value}")
    return found
