"""`replay CARD --sandbox`: a past incident played again, live, on the built-in sandbox.

The card's history (read from Trello by `worker.ops.replay`) is played on a fresh sandbox
with the real worker process running the template given: a card of the same name, then each
person's action of the history in order, by one of the sandbox's people (the history's people,
in the order they first act, become alice, bob, carol and dave; their @mentions follow), `speed`
times faster than it happened. The worker's cadences are divided by the same factor, so its
reminders fall where that template would place them; a quiet spell longer than `LONGEST_WAIT`
(played) is cut short, and said so. The worker's own actions are not played: it makes its own.
At the end the card is printed as a person sees it (`Stage.render`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from worker.core import trello_json as tj
from worker.core.model import Policy
from worker.demo import QUICK, Stage, wait_for
from worker.sandbox import Sandbox

#: The sandbox's people, in the order the history's people are given them.
PEOPLE = ("alice", "bob", "carol", "dave")
#: The longest wait between two actions as played, in seconds.
LONGEST_WAIT = 10.0
_MENTION = re.compile(r"@([A-Za-z0-9_]+)")


def cast_people(events: Sequence[tj.Event], worker_member_id: str) -> dict[str, str]:
    """The history's usernames -> the sandbox's people, in the order they first act."""
    cast: dict[str, str] = {}
    for event in events:
        if event.member_id != worker_member_id and event.username not in cast:
            cast[event.username] = PEOPLE[len(cast) % len(PEOPLE)]
    return cast


def recast(text: str, cast: Mapping[str, str]) -> str:
    """`text` with each @mention of a cast person given to whoever plays them."""
    return _MENTION.sub(lambda m: "@" + cast.get(m.group(1), m.group(1)), text)


def cadences(policy: Policy, speed: float) -> dict[str, str]:
    """The worker's cadences, `speed` times shorter (never under half a second)."""
    return {
        setting: str(max(0.5, seconds / speed))
        for setting, seconds in (
            ("INCIDENT_REMINDER_SECONDS", policy.reminder_seconds),
            ("INCIDENT_STATUS_UPDATE_SECONDS", policy.status_update_seconds),
            ("INCIDENT_ROLE_REMINDER_SECONDS", policy.role_reminder_seconds),
            ("INCIDENT_REMINDER_MAX_SECONDS", policy.reminder_max_seconds),
        )
    }


def play_history(
    history: Sequence[Mapping[str, Any]],
    template: Path,
    policy: Policy,
    *,
    speed: float,
    say: Callable[[str], None],
) -> int:
    """Play `history` on a fresh sandbox with the worker running `template` (see the module
    docstring); `policy` is the template's, for its cadences and its resolved lists."""
    events = [e for e in (_event(raw) for raw in history) if e is not None]
    played = [e for e in events if e.member_id != policy.worker_member_id]
    if not played:
        say("Nothing to replay: the card's history has no person's action.")
        return 1
    cast = cast_people(played, policy.worker_member_id)
    settings = {**QUICK, "INCIDENT_TEMPLATE": str(template), **cadences(policy, speed)}
    with Stage.serving(Sandbox.seeded(), settings) as scene:
        board = scene.board_ids[0]
        say(f"Sandbox serving Trello's API at {scene.server.url}; starting the worker.")
        scene.start_worker()
        first = played[0]
        card = str(scene.person(cast[first.username]).create_card(board, first.card_name).id)
        who = ", ".join(f"@{name} as @{person}" for name, person in cast.items())
        say(f"Replaying {len(played)} actions on {first.card_name!r}, {speed:g}x faster ({who}).")
        previous = first.at
        for event in played:
            wait = (event.at - previous).total_seconds() / speed
            if wait > LONGEST_WAIT:
                say(f"  ({wait:.0f} s of quiet cut to {LONGEST_WAIT:g} s)")
                wait = LONGEST_WAIT
            time.sleep(max(0.0, wait))
            previous = event.at
            said = _play(scene, card, event, cast, policy)
            if said:
                say(f"{event.at:%H:%M} @{cast[event.username]}: {said}")
        wait_for(lambda: scene.worker_comments(card) or None, "the worker's first comment")
        time.sleep(2.0)  # the worker's answer to the last action
        scene.stop_worker()
        say("")
        say(scene.render(card))
    return 0


def _event(raw: Mapping[str, Any]) -> tj.Event | None:
    try:
        return tj.parse_action(dict(raw))
    except tj.UnexpectedAction:
        return None


def _play(scene: Stage, card: str, event: tj.Event, cast: Mapping[str, str], policy: Policy) -> str:
    """Do `event` on the sandbox's card as its person; what was done, in words ("" if not)."""
    person = scene.person(cast[event.username])
    try:
        if isinstance(event, tj.LabelAdded | tj.LabelRemoved):
            removed = isinstance(event, tj.LabelRemoved)
            person.label(card, event.label, remove=removed)
            return f"{'removed' if removed else 'added'} the label {event.label}"
        if isinstance(event, tj.Commented):
            person.comment(card, recast(event.text, cast))
            return f"commented {event.text.splitlines()[0][:60]!r}"
        if isinstance(event, tj.CheckItemChanged):
            person.tick(card, event.item_name, checked=event.complete)
            return f"{'ticked' if event.complete else 'unticked'} {event.item_name[:60]!r}"
        if isinstance(event, tj.CardMoved):
            lists = set(scene.lists(scene.board_ids[0]).values())
            target = event.list_after if event.list_after in lists else None
            if target is None:
                target = "Done" if policy.is_resolved_list(event.list_after) else "Doing"
            person.move(card, target)
            return f"moved it to {target}"
        if isinstance(event, tj.CardArchived) and event.archived:
            person.archive(card)
            return "archived it"
    except (LookupError, ValueError) as exc:  # a label or item the sandbox's card lacks
        return f"(could not be played: {exc})"
    return ""
